using Oversight.Enforcement.Redis;
using Oversight.Enforcement.Tests.Infrastructure;
using Oversight.Enforcement.V1;
using Oversight.Policy.Counters;
using StackExchange.Redis;

namespace Oversight.Enforcement.Tests;

/// <summary>
/// Attestation ids are unique per provider only, so enforcement's exactly-once marks name the
/// provider; entries and events of the earlier version keep the bare id they were marked by.
/// </summary>
public sealed class AttestationIdScopeTests : IAsyncLifetime
{
    private EnforcementDeployment _deployment = null!;

    public async Task InitializeAsync() => _deployment = await SharedDeployment.GetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task SameAttestationIdFromTwoProvidersForOneAccount_IsCountedForEach_AndEachOnlyOnceWhenRedeliveredOrRebuilt()
    {
        var market = _deployment.NewMarketplace();
        using var probe = new UsageProbe(_deployment.Enforcement);
        var account = await market.CreateKnownAccountAsync();
        var id = "att-shared-" + Guid.NewGuid().ToString("N");

        await market.AttestAsync(account, "lease-of-prov-1", 1_000_000, attestationId: id);
        await market.AttestAsync(account, "lease-of-prov-2", 2_000_000, attestationId: id, providerId: "prov-2");

        await probe.WaitUntilConsumedAsync([id], times: 2);
        var live = await market.WaitForUsageAsync(account, 3_000_000);

        // Both events again, as if the publisher had crashed before marking them: no change.
        await Stores.RepublishAsync(_deployment.AttestationDatabase, id);
        await probe.WaitUntilConsumedAsync([id], times: 4);
        Assert.Equal(live, await market.UsageAsync(account));

        // Rebuilt from the ledger: both count, and both marks come back.
        var rebuilt = await RebuildAsync(market, account);
        Assert.Equal(2, rebuilt.AttestationsApplied);
        Assert.Equal(live, await market.UsageAsync(account));
        await Stores.RepublishAsync(_deployment.AttestationDatabase, id);
        await probe.WaitUntilConsumedAsync([id], times: 6);
        Assert.Equal(live, await market.UsageAsync(account));
    }

    [Fact]
    public async Task AnAttestationCountedByTheEarlierVersion_IsRecognisedByItsBareIdMark_LiveAndAfterARebuild()
    {
        using var probe = new UsageProbe(_deployment.Enforcement);
        var (market, account, id, live) = await CountedAttestationAsync(probe);

        // Leave everything as the earlier version did: its ledger row (as the migration keeps it),
        // its event (no ProviderScopedId) and its counted mark (the bare id).
        await MarkLedgerRowUnscopedAsync(market, id);
        Assert.Equal(1, await Stores.ExecuteAsync(_deployment.AttestationDatabase,
            "UPDATE outbox_messages SET \"Payload\" = replace(\"Payload\", ',\"providerScopedId\":true', '') WHERE \"Payload\" LIKE @pattern",
            ("pattern", "%" + id + "%")));
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(_deployment.EnforcementRedis))
        {
            var marks = RedisCounterKeys.Marks(CounterTag.For(market.Id, account));
            var database = redis.GetDatabase();
            var expiry = (await database.SortedSetScoreAsync(marks, CountedMark.For(TestMarketplace.Provider, id)))!.Value;
            Assert.True(await database.SortedSetRemoveAsync(marks, CountedMark.For(TestMarketplace.Provider, id)));
            Assert.True(await database.SortedSetAddAsync(marks, id, expiry));
        }

        // Redelivered after the upgrade: a duplicate.
        await Stores.RepublishAsync(_deployment.AttestationDatabase, id);
        await probe.WaitUntilConsumedAsync([id], times: 2);
        Assert.Equal(live, await market.UsageAsync(account));

        // Rebuilt, the row gets the bare-id mark again, so the event is still a duplicate.
        await RebuildAsync(market, account);
        Assert.Equal(live, await market.UsageAsync(account));
        await Stores.RepublishAsync(_deployment.AttestationDatabase, id);
        await probe.WaitUntilConsumedAsync([id], times: 3);
        Assert.Equal(live, await market.UsageAsync(account));
    }

    [Fact]
    public async Task ARebuildReadingAnEarlierVersionsExport_StillRecognisesTheEventsOfNewEntries()
    {
        using var probe = new UsageProbe(_deployment.Enforcement);
        var (market, account, id, live) = await CountedAttestationAsync(probe);

        // During a rollout an attestation pod of the earlier version may answer the export: it
        // knows no flag, so this new entry comes without it, while its event carries the provider.
        await MarkLedgerRowUnscopedAsync(market, id);
        await RebuildAsync(market, account);
        Assert.Equal(live, await market.UsageAsync(account));

        await Stores.RepublishAsync(_deployment.AttestationDatabase, id);
        await probe.WaitUntilConsumedAsync([id], times: 2);
        Assert.Equal(live, await market.UsageAsync(account));
    }

    /// <summary>A new account in a new marketplace with one attestation of 1,000,000 units, counted.</summary>
    private async Task<(TestMarketplace Market, string Account, string Id, GetUsageResponse Live)> CountedAttestationAsync(UsageProbe probe)
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        var id = await market.AttestAsync(account, "unreserved", 1_000_000);
        await probe.WaitUntilConsumedAsync([id]);
        return (market, account, id, await market.WaitForUsageAsync(account, 1_000_000));
    }

    /// <summary>The ledger row as the migration leaves an earlier row, or an earlier attestation pod exports it: without the flag.</summary>
    private async Task MarkLedgerRowUnscopedAsync(TestMarketplace market, string id) =>
        Assert.Equal(1, await Stores.ExecuteAsync(_deployment.AttestationDatabase,
            "UPDATE ledger SET \"ProviderScopedId\" = false WHERE \"MarketplaceId\" = @m AND \"AttestationId\" = @id", ("m", market.Id), ("id", id)));

    private async Task<RebuildCountersResponse> RebuildAsync(TestMarketplace market, string account)
    {
        await Stores.FlushTagAsync(_deployment.EnforcementRedis, market.Id, account);
        return await _deployment.EnforcementClient().RebuildCountersAsync(
            new RebuildCountersRequest { MarketplaceId = market.Id, AccountId = account }, _deployment.Admin);
    }
}
