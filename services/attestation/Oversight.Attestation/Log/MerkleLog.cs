using System.Security.Cryptography;

namespace Oversight.Attestation.Log;

/// <summary>
/// RFC 6962/9162 hashing and an O(log n) append for the transparency log.
/// The log's state is its "frontier": the roots of the perfect subtrees that make up a tree of
/// n leaves, one per set bit of n, largest (leftmost) first, stored as concatenated 32-byte
/// hashes. Appending a leaf merges equal-sized subtrees like a binary counter carries.
/// </summary>
public static class MerkleLog
{
    public const int HashLength = 32;

    /// <summary>SHA-256 of the empty string: the root of the empty tree (RFC 6962 section 2.1).</summary>
    public static readonly byte[] EmptyRoot = SHA256.HashData(ReadOnlySpan<byte>.Empty);

    /// <summary>The leaf bytes: the canonical bytes followed by the 64-byte signature.</summary>
    public static byte[] LeafBytes(ReadOnlySpan<byte> canonicalBytes, ReadOnlySpan<byte> signature) => [.. canonicalBytes, .. signature];

    /// <summary>SHA-256(0x00 || leaf).</summary>
    public static byte[] LeafHash(ReadOnlySpan<byte> leaf) => SHA256.HashData([0x00, .. leaf]);

    /// <summary>SHA-256(0x01 || left || right).</summary>
    public static byte[] NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right) => SHA256.HashData([0x01, .. left, .. right]);

    /// <summary>The frontier of a tree of <paramref name="treeSize"/> leaves after appending one leaf hash.</summary>
    public static byte[] Append(byte[] frontier, long treeSize, ReadOnlySpan<byte> leafHash)
    {
        var stack = Split(frontier, treeSize);
        var carry = leafHash.ToArray();
        // Each trailing one bit of the old size is a perfect subtree as large as the carry.
        for (var size = treeSize; (size & 1) == 1; size >>= 1)
        {
            carry = NodeHash(stack[^1], carry);
            stack.RemoveAt(stack.Count - 1);
        }

        stack.Add(carry);
        return [.. stack.SelectMany(h => h)];
    }

    /// <summary>The root hash of the tree a frontier describes.</summary>
    public static byte[] Root(byte[] frontier, long treeSize)
    {
        if (treeSize == 0)
        {
            return EmptyRoot;
        }

        var stack = Split(frontier, treeSize);
        // The RFC splits at the largest power of two below n, so the rightmost subtrees fold first.
        var root = stack[^1];
        for (var i = stack.Count - 2; i >= 0; i--)
        {
            root = NodeHash(stack[i], root);
        }

        return root;
    }

    private static List<byte[]> Split(byte[] frontier, long treeSize)
    {
        var expected = long.PopCount(treeSize);
        if (frontier.Length != expected * HashLength)
        {
            throw new InvalidOperationException($"The log's frontier holds {frontier.Length / HashLength} hashes; a tree of {treeSize} leaves needs {expected}.");
        }

        return [.. frontier.Chunk(HashLength)];
    }
}
