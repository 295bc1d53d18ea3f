using System.Security.Cryptography;

namespace Oversight.Attestation.Log;

/// <summary>
/// RFC 6962/9162 hashing and an O(log n) append for the transparency log.
/// The log's state is its "frontier": the roots of the perfect subtrees that make up a tree of
/// n leaves, one per set bit of n, largest (leftmost) first, stored as concatenated 32-byte
/// hashes. Appending a leaf merges equal-sized subtrees like a binary counter carries; every
/// merge completes one perfect subtree, which the log keeps (table log_nodes) so that proofs
/// read O(log n) stored hashes instead of recomputing from every leaf.
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
    public static byte[] Append(byte[] frontier, long treeSize, ReadOnlySpan<byte> leafHash) =>
        Append(frontier, treeSize, leafHash, completed: null);

    /// <summary>
    /// Appends one leaf hash and adds to <paramref name="completed"/> the perfect subtrees the
    /// append completes (levels 1 and up; level 0 is the leaf itself). Appending leaf i completes
    /// one subtree per trailing one bit of i: at level l, the subtree of index i >> l.
    /// </summary>
    public static byte[] Append(byte[] frontier, long treeSize, ReadOnlySpan<byte> leafHash, List<TreeNode>? completed)
    {
        var stack = Split(frontier, treeSize);
        var carry = leafHash.ToArray();
        var level = 0;
        // Each trailing one bit of the old size is a perfect subtree as large as the carry.
        for (var size = treeSize; (size & 1) == 1; size >>= 1)
        {
            carry = NodeHash(stack[^1], carry);
            stack.RemoveAt(stack.Count - 1);
            level++;
            completed?.Add(new TreeNode(level, treeSize >> level, carry));
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

    /// <summary>
    /// The perfect subtrees whose roots form the frontier of a tree of <paramref name="treeSize"/>
    /// leaves, largest first: one per set bit of the size.
    /// </summary>
    public static IEnumerable<NodeRef> FrontierNodes(long treeSize)
    {
        var start = 0L;
        for (var level = 62; level >= 0; level--)
        {
            if (((treeSize >> level) & 1) == 1)
            {
                yield return new NodeRef(level, start >> level);
                start += 1L << level;
            }
        }
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

/// <summary>
/// A perfect subtree of the log: level l, index i covers leaves [i * 2^l, (i + 1) * 2^l).
/// Level 0 is a leaf.
/// </summary>
public readonly record struct NodeRef(int Level, long Index)
{
    /// <summary>One number per node, the key of table log_nodes: index * 64 + level.</summary>
    public long Id => (Index << 6) | (uint)Level;

    public static NodeRef FromId(long id) => new((int)(id & 63), id >> 6);
}

/// <summary>A perfect subtree and its hash.</summary>
public sealed record TreeNode(int Level, long Index, byte[] Hash)
{
    public NodeRef Ref => new(Level, Index);
}
