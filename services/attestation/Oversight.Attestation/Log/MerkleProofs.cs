namespace Oversight.Attestation.Log;

/// <summary>
/// Inclusion and consistency proofs (RFC 9162 sections 2.1.3.1 and 2.1.4.1) computed from the
/// hashes of perfect subtrees rather than from every leaf.
/// </summary>
/// <remarks>
/// Every subtree the RFC's recursion names is either perfect (one stored hash) or the right
/// edge of the tree, which splits into at most log2(n) perfect subtrees. A proof therefore needs
/// O(log n) stored hashes (at most about 2 log2(n)). The recursion's shape depends only on the
/// sizes and the index, never on hash values, so <see cref="NodesFor"/> runs it once with
/// placeholder hashes to learn which nodes to read, and the caller fetches them all in one
/// round trip before running it for real.
/// </remarks>
public static class MerkleProofs
{
    private static readonly byte[] Placeholder = new byte[MerkleLog.HashLength];

    /// <summary>The audit path of leaf <paramref name="index"/> in the tree of the first <paramref name="treeSize"/> leaves.</summary>
    public static List<byte[]> Inclusion(long index, long treeSize, Func<NodeRef, byte[]> node)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, treeSize);
        var proof = new List<byte[]>();
        Path(index, 0, treeSize, node, proof);
        return proof;
    }

    /// <summary>The consistency proof between the trees of <paramref name="firstSize"/> and <paramref name="secondSize"/> leaves (empty when first is 0 or equal to second).</summary>
    public static List<byte[]> Consistency(long firstSize, long secondSize, Func<NodeRef, byte[]> node)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(firstSize, secondSize);
        var proof = new List<byte[]>();
        if (firstSize > 0 && firstSize < secondSize)
        {
            SubProof(firstSize, 0, secondSize, complete: true, node, proof);
        }

        return proof;
    }

    /// <summary>The root of the tree of the first <paramref name="treeSize"/> leaves: O(log n) nodes.</summary>
    public static byte[] Root(long treeSize, Func<NodeRef, byte[]> node) =>
        treeSize == 0 ? MerkleLog.EmptyRoot : RangeHash(0, treeSize, node);

    /// <summary>The perfect subtrees a computation reads: run it with placeholder hashes.</summary>
    public static IReadOnlyCollection<NodeRef> NodesFor(Action<Func<NodeRef, byte[]>> computation)
    {
        var needed = new HashSet<NodeRef>();
        computation(n =>
        {
            needed.Add(n);
            return Placeholder;
        });
        return needed;
    }

    // PATH(m, D[lo:hi]) of RFC 9162 2.1.3.1, with m absolute.
    private static void Path(long m, long lo, long hi, Func<NodeRef, byte[]> node, List<byte[]> proof)
    {
        if (hi - lo == 1)
        {
            return;
        }

        var k = LargestPowerOfTwoBelow(hi - lo);
        if (m - lo < k)
        {
            Path(m, lo, lo + k, node, proof);
            proof.Add(RangeHash(lo + k, hi, node));
        }
        else
        {
            Path(m, lo + k, hi, node, proof);
            proof.Add(RangeHash(lo, lo + k, node));
        }
    }

    // SUBPROOF(m, D[lo:hi], b) of RFC 9162 2.1.4.1, with m relative to lo.
    private static void SubProof(long m, long lo, long hi, bool complete, Func<NodeRef, byte[]> node, List<byte[]> proof)
    {
        var n = hi - lo;
        if (m == n)
        {
            if (!complete)
            {
                proof.Add(RangeHash(lo, hi, node));
            }

            return;
        }

        var k = LargestPowerOfTwoBelow(n);
        if (m <= k)
        {
            SubProof(m, lo, lo + k, complete, node, proof);
            proof.Add(RangeHash(lo + k, hi, node));
        }
        else
        {
            SubProof(m - k, lo + k, hi, complete: false, node, proof);
            proof.Add(RangeHash(lo, lo + k, node));
        }
    }

    /// <summary>
    /// MTH(D[lo:hi]) for a range the recursion names: lo is a multiple of the largest power of
    /// two not above hi - lo, so the range splits, left to right, into perfect subtrees of
    /// decreasing size (one per set bit of its length), folded right to left as RFC 6962 splits.
    /// </summary>
    private static byte[] RangeHash(long lo, long hi, Func<NodeRef, byte[]> node)
    {
        var length = hi - lo;
        byte[]? root = null;
        var parts = new List<byte[]>();
        var start = lo;
        for (var level = 62; level >= 0; level--)
        {
            if (((length >> level) & 1) == 0)
            {
                continue;
            }

            if (start % (1L << level) != 0)
            {
                throw new InvalidOperationException($"Range [{lo}, {hi}) is not made of aligned perfect subtrees.");
            }

            parts.Add(node(new NodeRef(level, start >> level)));
            start += 1L << level;
        }

        for (var i = parts.Count - 1; i >= 0; i--)
        {
            root = root is null ? parts[i] : MerkleLog.NodeHash(parts[i], root);
        }

        return root!;
    }

    // The largest power of two strictly below n (n >= 2).
    private static long LargestPowerOfTwoBelow(long n) => 1L << (int)(63 - long.LeadingZeroCount(n - 1));
}
