using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Attestation.Data;
using Oversight.Attestation.Log;
using Oversight.Attestation.V1;
using Oversight.Signing.TransparencyLog;

namespace Oversight.Attestation.Tests;

/// <summary>The log's state survives restarts and is rebuilt from the ledger when it does not match it.</summary>
public sealed class LogRecoveryTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Restart_WithTheStateRowResetAndSubtreesLost_RebuildsTheLogFromTheLedgerAndGoesOn(bool sqlite)
    {
        var first = await AttestationServer.StartAsync(sqlite, keepData: true);
        var provider = await first.RegisterProviderAsync();
        var receipts = await first.StreamAsync(provider, Enumerable.Range(0, 11).Select(_ => provider.Sign(provider.Attestation())).ToList());
        var before = await first.WithDbAsync(db => db.LogState.AsNoTracking().SingleAsync());
        var checkpoint = await first.Client.GetCheckpointAsync(new GetCheckpointRequest());
        await first.WithDbAsync(async db =>
        {
            await db.Database.ExecuteSqlRawAsync("UPDATE log_state SET \"TreeSize\" = 0, \"Frontier\" = @p0, \"RootHash\" = @p1 WHERE \"Id\" = 1", Array.Empty<byte>(), MerkleLog.EmptyRoot);
            return await db.LogNodes.Where(n => n.Level >= 2).ExecuteDeleteAsync();
        });
        await first.DisposeAsync();

        await using var second = await AttestationServer.StartAsync(sqlite, restartOf: first);

        var after = await second.WithDbAsync(db => db.LogState.AsNoTracking().SingleAsync());
        Assert.Equal(11L, after.TreeSize);
        Assert.Equal(before.RootHash, after.RootHash);
        Assert.Equal(before.Frontier, after.Frontier);
        Assert.Equal(11 - long.PopCount(11), await second.WithDbAsync(db => db.LogNodes.CountAsync()));
        // The same checkpoint key (kept in the data folder), the same tree.
        var key = await second.Client.GetLogPublicKeyAsync(new GetLogPublicKeyRequest());
        using var publicKey = System.Security.Cryptography.ECDsa.Create();
        publicKey.ImportFromPem(key.PublicKeyPem);
        Assert.True(ProofVerifier.TryVerifyCheckpoint(checkpoint.Note, key.KeyName, publicKey, out var old));
        Assert.True(ProofVerifier.TryVerifyCheckpoint((await second.Client.GetCheckpointAsync(new GetCheckpointRequest())).Note, key.KeyName, publicKey, out var now));
        Assert.Equal(old!.TreeSize, now!.TreeSize);
        Assert.Equal(old.RootHash, now.RootHash);
        var next = await second.SubmitAsync(provider, provider.Attestation());
        Assert.Equal(11, next.LeafIndex);
        var proof = await second.Client.GetInclusionProofAsync(new GetInclusionProofRequest { LeafIndex = 3 }, second.Host.Auth("auditor", provider.MarketplaceId));
        var leaves = await second.WithDbAsync(db => db.Ledger.AsNoTracking().OrderBy(e => e.LeafIndex).Select(e => e.LeafHash).ToListAsync());
        Assert.True(ProofVerifier.VerifyInclusion(Convert.FromHexString(receipts[3].LeafHash), 3, 12, proof.Hashes.Select(h => h.ToByteArray()).ToList(), ReferenceMerkleTree.Root(leaves)));
    }

    [Fact]
    public async Task Check_OfAConsistentLog_ChangesNothing_AndTheFullCheckAgrees()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        await server.StreamAsync(provider, Enumerable.Range(0, 9).Select(_ => provider.Sign(provider.Attestation())).ToList());

        Assert.Equal(LogCheckResult.Consistent, await CheckAsync(server, LogStartupCheck.Quick));
        Assert.Equal(LogCheckResult.Consistent, await CheckAsync(server, LogStartupCheck.Full));

        // A wrong subtree below the frontier escapes the quick check; the full one rebuilds it.
        await server.WithDbAsync(db => db.LogNodes.Where(n => n.Level == 1 && n.Index == 0).ExecuteUpdateAsync(s => s.SetProperty(n => n.Hash, new byte[32])));
        Assert.Equal(LogCheckResult.Consistent, await CheckAsync(server, LogStartupCheck.Quick));
        Assert.Equal(LogCheckResult.Rebuilt, await CheckAsync(server, LogStartupCheck.Full));
        Assert.Equal(LogCheckResult.Consistent, await CheckAsync(server, LogStartupCheck.Full));
    }

    [Fact]
    public async Task Check_WhenTheLedgerHasFewerLeavesThanTheState_Refuses()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        await server.StreamAsync(provider, Enumerable.Range(0, 4).Select(_ => provider.Sign(provider.Attestation())).ToList());
        await server.WithDbAsync(db => db.Ledger.Where(e => e.LeafIndex == 3).ExecuteDeleteAsync());

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => CheckAsync(server, LogStartupCheck.Quick));
        Assert.Contains("ledger rows are missing", e.Message);
    }

    private static async Task<LogCheckResult> CheckAsync(AttestationServer server, LogStartupCheck mode)
    {
        await using var scope = server.Host.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<LogRecovery>().CheckAsync(mode, CancellationToken.None);
    }
}
