using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Oversight.Attestation.Data;

namespace Oversight.Attestation.Log;

/// <summary>
/// Makes the log's state agree with the ledger, the durable truth. Runs at start (after the
/// migrations), under the log_state row lock, so no replica appends meanwhile.
/// </summary>
/// <remarks>
/// Quick check, O(log n): the state's size equals the ledger's highest leaf index + 1, the
/// state's frontier folds to its root, and every frontier hash equals the stored subtree (or
/// leaf) it stands for. Any difference (a reset or restored state row, lost subtree rows)
/// rebuilds state and subtrees from the ledger's leaf hashes in leaf order: O(n).
/// The full check (<see cref="LogStartupCheck.Full"/>) also recomputes every leaf hash from
/// the stored bytes and compares every stored subtree.
/// A ledger with fewer leaves than the state, a gap in its leaf indexes, or a leaf hash that
/// does not match its bytes cannot be repaired automatically (the log would shrink or change,
/// and contradict checkpoints already signed): the service then refuses to start.
/// </remarks>
public sealed class LogRecovery(AttestationDbContext db, ILogger<LogRecovery> logger)
{
    private const int PageSize = 5000;

    public async Task<LogCheckResult> CheckAsync(LogStartupCheck mode, CancellationToken cancellationToken)
    {
        db.ChangeTracker.Clear();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.Database.ExecuteSqlRawAsync("UPDATE log_state SET \"TreeSize\" = \"TreeSize\" WHERE \"Id\" = 1", cancellationToken);
        var state = await db.LogState.SingleAsync(s => s.Id == 1, cancellationToken);
        var ledgerSize = (await db.Ledger.MaxAsync(e => (long?)e.LeafIndex, cancellationToken) ?? -1) + 1;
        if (state.TreeSize > ledgerSize)
        {
            throw new InvalidOperationException(
                $"The transparency log's state holds {state.TreeSize} leaves but the ledger only {ledgerSize}: ledger rows are missing. " +
                "Rebuilding would shrink the log and contradict checkpoints already signed; restore the ledger before starting.");
        }

        var consistent = state.TreeSize == ledgerSize && await FrontierMatchesAsync(state, cancellationToken);
        if (consistent && mode == LogStartupCheck.Quick)
        {
            await transaction.CommitAsync(cancellationToken);
            return LogCheckResult.Consistent;
        }

        var rebuilt = await RecomputeAsync(ledgerSize, verifyLeaves: mode == LogStartupCheck.Full, cancellationToken);
        var stored = mode == LogStartupCheck.Full ? await db.LogNodes.AsNoTracking().ToDictionaryAsync(n => n.Id, n => n.Hash, cancellationToken) : null;
        var nodesMatch = stored is not null && stored.Count == rebuilt.Nodes.Count &&
            rebuilt.Nodes.All(n => stored.TryGetValue(n.Ref.Id, out var hash) && hash.AsSpan().SequenceEqual(n.Hash));
        if (consistent && nodesMatch && state.RootHash.AsSpan().SequenceEqual(rebuilt.Root))
        {
            await transaction.CommitAsync(cancellationToken);
            return LogCheckResult.Consistent;
        }

        logger.LogWarning("The transparency log's state ({StateSize} leaves, root {StateRoot}) does not match the ledger ({LedgerSize} leaves, root {LedgerRoot}); rebuilt from the ledger",
            state.TreeSize, Convert.ToHexStringLower(state.RootHash), ledgerSize, Convert.ToHexStringLower(rebuilt.Root));
        await db.LogNodes.ExecuteDeleteAsync(cancellationToken);
        foreach (var chunk in rebuilt.Nodes.Chunk(PageSize))
        {
            db.LogNodes.AddRange(chunk.Select(n => new LogNodeRecord { Id = n.Ref.Id, Level = n.Level, Index = n.Index, Hash = n.Hash }));
            await db.SaveChangesAsync(cancellationToken);
            db.ChangeTracker.Clear();
        }

        state = await db.LogState.SingleAsync(s => s.Id == 1, cancellationToken);
        state.TreeSize = ledgerSize;
        state.Frontier = rebuilt.Frontier;
        state.RootHash = rebuilt.Root;
        state.UpdatedAt = DateTimeOffset.UtcNow;
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return LogCheckResult.Rebuilt;
    }

    private async Task<bool> FrontierMatchesAsync(LogStateRecord state, CancellationToken cancellationToken)
    {
        if (state.Frontier.Length != long.PopCount(state.TreeSize) * MerkleLog.HashLength ||
            !MerkleLog.Root(state.Frontier, state.TreeSize).AsSpan().SequenceEqual(state.RootHash))
        {
            return false;
        }

        var frontier = MerkleLog.FrontierNodes(state.TreeSize).ToList();
        Func<NodeRef, byte[]> stored;
        try
        {
            stored = await new LogStore(db).LoadAsync(frontier, cancellationToken);
            return frontier.Select((n, i) => stored(n).AsSpan().SequenceEqual(state.Frontier.AsSpan(i * MerkleLog.HashLength, MerkleLog.HashLength))).All(x => x);
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private async Task<Recomputed> RecomputeAsync(long ledgerSize, bool verifyLeaves, CancellationToken cancellationToken)
    {
        byte[] frontier = [];
        var nodes = new List<TreeNode>();
        for (var next = 0L; next < ledgerSize;)
        {
            var from = next;
            var page = verifyLeaves
                ? await db.Ledger.AsNoTracking().Where(e => e.LeafIndex >= from).OrderBy(e => e.LeafIndex).Take(PageSize)
                    .Select(e => new Leaf(e.LeafIndex, e.LeafHash, e.CanonicalBytes, e.Signature)).ToListAsync(cancellationToken)
                : await db.Ledger.AsNoTracking().Where(e => e.LeafIndex >= from).OrderBy(e => e.LeafIndex).Take(PageSize)
                    .Select(e => new Leaf(e.LeafIndex, e.LeafHash, null, null)).ToListAsync(cancellationToken);
            foreach (var leaf in page)
            {
                if (leaf.Index != next)
                {
                    throw new InvalidOperationException($"The ledger has no leaf {next} (the next is {leaf.Index}): leaf indexes must be contiguous. Restore the ledger before starting.");
                }

                if (leaf.Canonical is not null && !SHA256.HashData([0x00, .. leaf.Canonical, .. leaf.Signature!]).AsSpan().SequenceEqual(leaf.Hash))
                {
                    throw new InvalidOperationException($"Ledger leaf {leaf.Index} has a leaf hash that does not match its canonical bytes and signature: the ledger was altered.");
                }

                frontier = MerkleLog.Append(frontier, next, leaf.Hash, nodes);
                next++;
            }

            if (page.Count == 0)
            {
                throw new InvalidOperationException($"The ledger has no leaf {next}: leaf indexes must be contiguous. Restore the ledger before starting.");
            }
        }

        return new Recomputed(frontier, MerkleLog.Root(frontier, ledgerSize), nodes);
    }

    private sealed record Leaf(long Index, byte[] Hash, byte[]? Canonical, byte[]? Signature);

    private sealed record Recomputed(byte[] Frontier, byte[] Root, List<TreeNode> Nodes);
}

public enum LogCheckResult
{
    Consistent,
    Rebuilt,
}

/// <summary>Runs <see cref="LogRecovery"/> before the host serves (registered after the migrations).</summary>
public sealed class LogRecoveryOnStart(IServiceScopeFactory scopes, IOptions<AttestationOptions> options) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<LogRecovery>().CheckAsync(options.Value.LogStartupCheck, cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
