using System.Security.Cryptography;

namespace Oversight.Attestation.Tests;

/// <summary>
/// RFC 6962 section 2.1 / RFC 9162 section 2.1 written out literally: MTH(D[n]) splits at the
/// largest power of two below n and recurses over lists of leaf hashes; PATH and PROOF recurse
/// the same way and recompute every subtree from its leaves. Deliberately naive (O(n) per
/// proof) and sharing no code with the service's log.
/// </summary>
public static class ReferenceMerkleTree
{
    public static byte[] Root(IReadOnlyList<byte[]> leafHashes)
    {
        if (leafHashes.Count == 0)
        {
            return SHA256.HashData([]);
        }

        if (leafHashes.Count == 1)
        {
            return leafHashes[0];
        }

        var k = Split(leafHashes.Count);
        var left = Root(leafHashes.Take(k).ToList());
        var right = Root(leafHashes.Skip(k).ToList());
        return SHA256.HashData([0x01, .. left, .. right]);
    }

    /// <summary>PATH(m, D[n]) of RFC 9162 2.1.3.1.</summary>
    public static List<byte[]> InclusionProof(int m, IReadOnlyList<byte[]> leafHashes)
    {
        var n = leafHashes.Count;
        if (n == 1)
        {
            return [];
        }

        var k = Split(n);
        return m < k
            ? [.. InclusionProof(m, leafHashes.Take(k).ToList()), Root(leafHashes.Skip(k).ToList())]
            : [.. InclusionProof(m - k, leafHashes.Skip(k).ToList()), Root(leafHashes.Take(k).ToList())];
    }

    /// <summary>PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 2.1.4.1, for 0 &lt; m &lt; n.</summary>
    public static List<byte[]> ConsistencyProof(int m, IReadOnlyList<byte[]> leafHashes) => SubProof(m, leafHashes, true);

    private static List<byte[]> SubProof(int m, IReadOnlyList<byte[]> d, bool b)
    {
        var n = d.Count;
        if (m == n)
        {
            return b ? [] : [Root(d)];
        }

        var k = Split(n);
        return m <= k
            ? [.. SubProof(m, d.Take(k).ToList(), b), Root(d.Skip(k).ToList())]
            : [.. SubProof(m - k, d.Skip(k).ToList(), false), Root(d.Take(k).ToList())];
    }

    // The largest power of two smaller than n (n > 1).
    private static int Split(int n)
    {
        var k = 1;
        while (k * 2 < n)
        {
            k *= 2;
        }

        return k;
    }
}
