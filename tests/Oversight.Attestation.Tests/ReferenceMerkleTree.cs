using System.Security.Cryptography;

namespace Oversight.Attestation.Tests;

/// <summary>
/// RFC 6962 section 2.1 written out literally: MTH(D[n]) splits at the largest power of two
/// below n and recurses. Shares no code with the service's log.
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

        var k = 1;
        while (k * 2 < leafHashes.Count)
        {
            k *= 2;
        }

        var left = Root(leafHashes.Take(k).ToList());
        var right = Root(leafHashes.Skip(k).ToList());
        return SHA256.HashData([0x01, .. left, .. right]);
    }
}
