using Microsoft.EntityFrameworkCore;
using Oversight.Attestation.Data;

namespace Oversight.Attestation.Log;

/// <summary>
/// Reads the transparency log: its committed state and proofs computed from stored subtree
/// hashes (log_nodes, levels 1 and up) and leaf hashes (the ledger, level 0). A proof reads
/// O(log n) hashes in two queries, whatever the size of the tree.
/// </summary>
public sealed class LogStore(AttestationDbContext db)
{
    // Keeps each IN (...) list well below any database's parameter limit.
    private const int QueryChunk = 500;

    /// <summary>The committed size, root and frontier.</summary>
    public Task<LogStateRecord> ReadStateAsync(CancellationToken cancellationToken) =>
        db.LogState.AsNoTracking().SingleAsync(s => s.Id == 1, cancellationToken);

    public async Task<List<byte[]>> InclusionProofAsync(long leafIndex, long treeSize, CancellationToken cancellationToken)
    {
        var node = await LoadAsync(MerkleProofs.NodesFor(n => MerkleProofs.Inclusion(leafIndex, treeSize, n)), cancellationToken);
        return MerkleProofs.Inclusion(leafIndex, treeSize, node);
    }

    public async Task<List<byte[]>> ConsistencyProofAsync(long firstSize, long secondSize, CancellationToken cancellationToken)
    {
        var node = await LoadAsync(MerkleProofs.NodesFor(n => MerkleProofs.Consistency(firstSize, secondSize, n)), cancellationToken);
        return MerkleProofs.Consistency(firstSize, secondSize, node);
    }

    /// <summary>The root of the tree of the first <paramref name="treeSize"/> leaves (at most the committed size).</summary>
    public async Task<byte[]> RootAsync(long treeSize, CancellationToken cancellationToken)
    {
        var node = await LoadAsync(MerkleProofs.NodesFor(n => MerkleProofs.Root(treeSize, n)), cancellationToken);
        return MerkleProofs.Root(treeSize, node);
    }

    /// <summary>Reads the given subtree hashes; the returned lookup throws for one that is missing (the log then needs a rebuild).</summary>
    public async Task<Func<NodeRef, byte[]>> LoadAsync(IReadOnlyCollection<NodeRef> nodes, CancellationToken cancellationToken)
    {
        var found = new Dictionary<NodeRef, byte[]>();
        foreach (var chunk in nodes.Where(n => n.Level == 0).Select(n => n.Index).Chunk(QueryChunk))
        {
            var leaves = await db.Ledger.AsNoTracking().Where(e => chunk.Contains(e.LeafIndex)).Select(e => new { e.LeafIndex, e.LeafHash }).ToListAsync(cancellationToken);
            leaves.ForEach(l => found[new NodeRef(0, l.LeafIndex)] = l.LeafHash);
        }

        foreach (var chunk in nodes.Where(n => n.Level > 0).Select(n => n.Id).Chunk(QueryChunk))
        {
            var stored = await db.LogNodes.AsNoTracking().Where(n => chunk.Contains(n.Id)).Select(n => new { n.Id, n.Hash }).ToListAsync(cancellationToken);
            stored.ForEach(s => found[NodeRef.FromId(s.Id)] = s.Hash);
        }

        return n => found.TryGetValue(n, out var hash)
            ? hash
            : throw new InvalidOperationException($"The log has no hash for the subtree at level {n.Level}, index {n.Index}; it needs a rebuild from the ledger (restart the service).");
    }
}
