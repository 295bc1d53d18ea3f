using System.Security.Cryptography;
using Oversight.Attestation.Log;

namespace Oversight.Attestation.Tests;

public sealed class MerkleLogTests
{
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
}
