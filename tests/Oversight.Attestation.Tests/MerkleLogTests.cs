using System.Security.Cryptography;
using Oversight.Attestation.Log;
using Oversight.Signing.TransparencyLog;

namespace Oversight.Attestation.Tests;

/// <summary>
/// The log's append, its proofs from stored subtrees and the client verifier, against the naive
/// reference tree, for every tree size 1-70 and a few hundred more.
/// </summary>
public sealed class MerkleLogTests
{
    private static readonly int[] LargeSizes = [127, 128, 129, 255, 256, 257, 300, 333, 511, 512, 513, 700];

    [Fact]
    public void Append_ForEveryTreeSizeUpTo130_GivesTheRootOfTheReferenceTree()
    {
        var leaves = new List<byte[]>();
        byte[] frontier = [];
        Assert.Equal(ReferenceMerkleTree.Root(leaves), MerkleLog.Root(frontier, 0));
        for (var n = 0; n < 130; n++)
        {
            var leafHash = MerkleLog.LeafHash(BitConverter.GetBytes(n));
            Assert.Equal(SHA256.HashData([0x00, .. BitConverter.GetBytes(n)]), leafHash);
            frontier = MerkleLog.Append(frontier, n, leafHash);
            leaves.Add(leafHash);
            Assert.Equal(long.PopCount(n + 1) * 32, frontier.Length);
            Assert.Equal(ReferenceMerkleTree.Root(leaves), MerkleLog.Root(frontier, n + 1));
        }
    }

    [Fact]
    public void Append_WithAFrontierOfTheWrongSize_Refuses() =>
        Assert.Throws<InvalidOperationException>(() => MerkleLog.Append(new byte[32], 3, new byte[32]));

    [Fact]
    public void Append_RecordsEveryPerfectSubtreeOnceWithItsReferenceHash()
    {
        var (leaves, nodes) = Build(300);
        // A tree of n leaves has n - popcount(n) perfect subtrees above the leaves.
        Assert.Equal(300 - long.PopCount(300), nodes.Count);
        foreach (var (node, hash) in nodes)
        {
            var covered = leaves.Skip((int)(node.Index << node.Level)).Take(1 << node.Level).ToList();
            Assert.Equal(ReferenceMerkleTree.Root(covered), hash);
        }
    }

    [Fact]
    public void Proofs_ForEveryTreeSizeUpTo70_EqualTheReferenceAndVerify()
    {
        var (leaves, nodes) = Build(70);
        for (var n = 1; n <= 70; n++)
        {
            var tree = leaves.Take(n).ToList();
            var root = ReferenceMerkleTree.Root(tree);
            Assert.Equal(root, MerkleProofs.Root(n, Lookup(leaves, nodes)));
            for (var m = 0; m < n; m++)
            {
                var proof = MerkleProofs.Inclusion(m, n, Lookup(leaves, nodes));
                Assert.Equal(ReferenceMerkleTree.InclusionProof(m, tree), proof);
                Assert.True(ProofVerifier.VerifyInclusion(leaves[m], m, n, proof, root), $"inclusion of {m} in {n}");
            }

            for (var m = 1; m <= n; m++)
            {
                var proof = MerkleProofs.Consistency(m, n, Lookup(leaves, nodes));
                var expected = m == n ? [] : ReferenceMerkleTree.ConsistencyProof(m, tree);
                Assert.Equal(expected, proof);
                Assert.True(ProofVerifier.VerifyConsistency(m, n, ReferenceMerkleTree.Root(leaves.Take(m).ToList()), root, proof), $"consistency {m} -> {n}");
            }
        }
    }

    [Fact]
    public void Proofs_ForLargerTreeSizes_EqualTheReferenceAndVerify()
    {
        var (leaves, nodes) = Build(LargeSizes.Max());
        var random = new Random(6962);
        foreach (var n in LargeSizes)
        {
            var tree = leaves.Take(n).ToList();
            var root = ReferenceMerkleTree.Root(tree);
            int[] picks = [0, 1, n / 2, n - 2, n - 1, random.Next(n), random.Next(n)];
            foreach (var m in picks)
            {
                var proof = MerkleProofs.Inclusion(m, n, Lookup(leaves, nodes));
                Assert.Equal(ReferenceMerkleTree.InclusionProof(m, tree), proof);
                Assert.True(ProofVerifier.VerifyInclusion(leaves[m], m, n, proof, root));
                // O(log n): at most about two hashes per level.
                Assert.True(MerkleProofs.NodesFor(x => MerkleProofs.Inclusion(m, n, x)).Count <= 2 * 64);
            }

            foreach (var first in picks.Select(p => Math.Max(1, p)).Distinct())
            {
                var proof = MerkleProofs.Consistency(first, n, Lookup(leaves, nodes));
                Assert.Equal(first == n ? [] : ReferenceMerkleTree.ConsistencyProof(first, tree), proof);
                Assert.True(ProofVerifier.VerifyConsistency(first, n, ReferenceMerkleTree.Root(leaves.Take(first).ToList()), root, proof));
            }
        }
    }

    // A (size, root) pair is what a signed checkpoint binds; the verifier checks a proof against
    // the pair it is given (a proof for one size can fit another size with the same root shape).
    [Fact]
    public void VerifyInclusion_RejectsEveryTamperedProofIndexLeafAndRoot()
    {
        var (leaves, nodes) = Build(70);
        foreach (var n in new[] { 1, 2, 3, 7, 8, 9, 33, 70 })
        {
            var root = ReferenceMerkleTree.Root(leaves.Take(n).ToList());
            for (var m = 0; m < n; m++)
            {
                var proof = MerkleProofs.Inclusion(m, n, Lookup(leaves, nodes));
                foreach (var tampered in Tamperings(proof))
                {
                    Assert.False(ProofVerifier.VerifyInclusion(leaves[m], m, n, tampered, root), $"tampered inclusion of {m} in {n}");
                }

                Assert.False(ProofVerifier.VerifyInclusion(Flip(leaves[m]), m, n, proof, root));
                Assert.False(ProofVerifier.VerifyInclusion(leaves[m], m, n, proof, Flip(root)));
                Assert.False(ProofVerifier.VerifyInclusion(leaves[m], m + 1, n, proof, root));
                Assert.False(ProofVerifier.VerifyInclusion(leaves[m], n, n, proof, root));
                Assert.False(ProofVerifier.VerifyInclusion(leaves[m], -1, n, proof, root));
                if (m > 0)
                {
                    Assert.False(ProofVerifier.VerifyInclusion(leaves[m], m - 1, n, proof, root));
                }
            }
        }
    }

    [Fact]
    public void VerifyConsistency_RejectsEveryTamperedProofAndRoot()
    {
        var (leaves, nodes) = Build(70);
        foreach (var n in new[] { 2, 3, 7, 8, 9, 33, 70 })
        {
            var root = ReferenceMerkleTree.Root(leaves.Take(n).ToList());
            for (var m = 1; m < n; m++)
            {
                var firstRoot = ReferenceMerkleTree.Root(leaves.Take(m).ToList());
                var proof = MerkleProofs.Consistency(m, n, Lookup(leaves, nodes));
                foreach (var tampered in Tamperings(proof))
                {
                    Assert.False(ProofVerifier.VerifyConsistency(m, n, firstRoot, root, tampered), $"tampered consistency {m} -> {n}");
                }

                Assert.False(ProofVerifier.VerifyConsistency(m, n, Flip(firstRoot), root, proof));
                Assert.False(ProofVerifier.VerifyConsistency(m, n, firstRoot, Flip(root), proof));
                Assert.False(ProofVerifier.VerifyConsistency(n, m, root, firstRoot, proof));
            }
        }
    }

    [Fact]
    public void VerifyConsistency_OfEqualSizesOrTheEmptyTree_NeedsAnEmptyProof()
    {
        var (leaves, _) = Build(5);
        var root = ReferenceMerkleTree.Root(leaves);
        Assert.True(ProofVerifier.VerifyConsistency(5, 5, root, root, []));
        Assert.False(ProofVerifier.VerifyConsistency(5, 5, root, Flip(root), []));
        Assert.False(ProofVerifier.VerifyConsistency(5, 5, root, root, [root]));
        Assert.True(ProofVerifier.VerifyConsistency(0, 5, SHA256.HashData([]), root, []));
        Assert.False(ProofVerifier.VerifyConsistency(0, 5, root, root, []));
        Assert.Empty(MerkleProofs.Consistency(0, 5, _ => throw new InvalidOperationException("reads nothing")));
    }

    [Fact]
    public void FrontierNodes_AreThePerfectSubtreesOfTheSizeLargestFirst() =>
        Assert.Equal([new NodeRef(2, 0), new NodeRef(1, 2), new NodeRef(0, 6)], MerkleLog.FrontierNodes(7));

    [Fact]
    public void NodeRef_Id_IsOneNumberPerNode()
    {
        var ids = new HashSet<long>();
        for (var level = 0; level < 10; level++)
        {
            for (var index = 0; index < 100; index++)
            {
                var node = new NodeRef(level, index);
                Assert.True(ids.Add(node.Id));
                Assert.Equal(node, NodeRef.FromId(node.Id));
            }
        }
    }

    internal static (List<byte[]> Leaves, Dictionary<NodeRef, byte[]> Nodes) Build(int size)
    {
        var leaves = new List<byte[]>();
        var completed = new List<TreeNode>();
        byte[] frontier = [];
        for (var i = 0; i < size; i++)
        {
            var leaf = SHA256.HashData([0x00, .. BitConverter.GetBytes(i), 0x42]);
            frontier = MerkleLog.Append(frontier, i, leaf, completed);
            leaves.Add(leaf);
        }

        return (leaves, completed.ToDictionary(c => c.Ref, c => c.Hash));
    }

    internal static Func<NodeRef, byte[]> Lookup(List<byte[]> leaves, Dictionary<NodeRef, byte[]> nodes) =>
        n => n.Level == 0 ? leaves[(int)n.Index] : nodes[n];

    internal static byte[] Flip(byte[] hash)
    {
        var copy = hash.ToArray();
        copy[^1] ^= 0x01;
        return copy;
    }

    // Each element flipped, each element dropped, one element added, two elements swapped.
    private static IEnumerable<List<byte[]>> Tamperings(List<byte[]> proof)
    {
        for (var i = 0; i < proof.Count; i++)
        {
            var flipped = proof.ToList();
            flipped[i] = Flip(flipped[i]);
            yield return flipped;
            var dropped = proof.ToList();
            dropped.RemoveAt(i);
            yield return dropped;
        }

        yield return [.. proof, new byte[32]];
        yield return [new byte[32], .. proof];
        if (proof.Count > 1 && !proof[0].SequenceEqual(proof[1]))
        {
            yield return [proof[1], proof[0], .. proof.Skip(2)];
        }
    }
}
