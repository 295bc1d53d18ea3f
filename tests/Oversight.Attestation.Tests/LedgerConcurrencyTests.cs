using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Oversight.Attestation.V1;

namespace Oversight.Attestation.Tests;

/// <summary>Leaf indexes stay contiguous whatever the number of parallel ingesters.</summary>
public sealed class LedgerConcurrencyTests
{
    [Fact]
    public async Task Submit_FiftyInParallelOnPostgres_GetsContiguousLeafIndexesAndTheReferenceRoot() =>
        await SubmitInParallel(sqlite: false, count: 50);

    [Fact]
    public async Task Submit_TwentyInParallelOnSqlite_GetsContiguousLeafIndexesAndTheReferenceRoot() =>
        await SubmitInParallel(sqlite: true, count: 20);

    private static async Task SubmitInParallel(bool sqlite, int count)
    {
        await using var server = await AttestationServer.StartAsync(sqlite);
        // Two providers interleaved, as two hosts of a marketplace would be.
        var providers = new[] { await server.RegisterProviderAsync(), await server.RegisterProviderAsync() };
        var requests = Enumerable.Range(0, count).Select(i =>
        {
            var p = providers[i % 2];
            return (Provider: p, Request: p.Sign(p.Attestation()));
        }).ToList();

        var receipts = await Task.WhenAll(requests.Select(r =>
            server.Client.SubmitAttestationAsync(r.Request, server.AuthFor(r.Provider)).ResponseAsync));

        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), receipts.Select(r => r.Receipt.LeafIndex).Order());
        var ledger = await server.WithDbAsync(db => db.Ledger.AsNoTracking().OrderBy(e => e.Position).ToListAsync());
        Assert.Equal(Enumerable.Range(1, count).Select(i => (long)i), ledger.Select(e => e.Position));
        Assert.All(ledger, e => Assert.Equal(e.Position - 1, e.LeafIndex));

        var state = await server.WithDbAsync(db => db.LogState.AsNoTracking().SingleAsync());
        Assert.Equal(count, state.TreeSize);
        Assert.Equal(ReferenceMerkleTree.Root(ledger.Select(e => e.LeafHash).ToList()), state.RootHash);
        Assert.All(ledger, e => Assert.Equal(SHA256.HashData([0x00, .. e.CanonicalBytes, .. e.Signature]), e.LeafHash));
        Assert.Equal(count, (await server.SnapshotAsync()).OutboxRows);
    }
}
