using Oversight.Common.V1;
using Oversight.Enforcement.Tests.Infrastructure;
using Oversight.Enforcement.V1;
using Oversight.Kyc.V1;
using StackExchange.Redis;

namespace Oversight.Enforcement.Tests;

/// <summary>Counters rebuilt from the attestation ledger (issue 6, item 8) equal the live ones exactly.</summary>
public sealed class RebuildTests : IAsyncLifetime
{
    private EnforcementDeployment _deployment = null!;

    public async Task InitializeAsync() => _deployment = await SharedDeployment.GetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task RebuildCounters_IntoEmptiedTags_RestoresEveryCounterAndMarkExactly_SoARedeliveredEventIsNotCountedTwice()
    {
        var market = _deployment.NewMarketplace();
        using var probe = new UsageProbe(_deployment.Enforcement);
        var a = await market.CreateKnownAccountAsync();
        var b = await market.CreateKnownAccountAsync();

        // A: a reserved lease attested in three parts, and usage without any reservation.
        var leaseA = market.Request(a, 3_000_000);
        Assert.Equal(Verdict.Allow, (await market.AuthorizeAsync(leaseA)).Verdict);
        var attested = new List<string>
        {
            await market.AttestAsync(a, leaseA.LeaseId, 1_000_000, final: false),
            await market.AttestAsync(a, leaseA.LeaseId, 1_000_000, final: false, count: 2, seconds: 1800),
            await market.AttestAsync(a, leaseA.LeaseId, 500_000, final: true, count: 1, seconds: 900),
            await market.AttestAsync(a, "unreserved-a", 2_000_000, final: true),
        };
        // B: a reserved lease attested in two parts.
        var leaseB = market.Request(b, 1_500_000);
        Assert.Equal(Verdict.Allow, (await market.AuthorizeAsync(leaseB)).Verdict);
        attested.Add(await market.AttestAsync(b, leaseB.LeaseId, 700_000, final: false, count: 4, seconds: 600));
        attested.Add(await market.AttestAsync(b, leaseB.LeaseId, 300_000, final: true));
        await probe.WaitUntilConsumedAsync(attested);
        var liveA = await market.WaitForUsageAsync(a, 4_500_000);
        var liveB = await market.WaitForUsageAsync(b, 1_000_000);
        Assert.All(liveA.Windows.Concat(liveB.Windows), w => Assert.Equal(0, w.Held));
        var rawA = await RawTagAsync(market.Id, a);
        var rawB = await RawTagAsync(market.Id, b);
        Assert.Contains(rawA.Keys, k => k.Contains(":u:24h:f:", StringComparison.Ordinal));

        await Stores.FlushTagAsync(_deployment.EnforcementRedis, market.Id, a);
        await Stores.FlushTagAsync(_deployment.EnforcementRedis, market.Id, b);
        var rebuilt = await _deployment.EnforcementClient().RebuildCountersAsync(new RebuildCountersRequest { MarketplaceId = market.Id }, _deployment.Admin);

        Assert.Equal((2L, 6L), (rebuilt.TagsRebuilt, rebuilt.AttestationsApplied));
        Assert.Equal(rawA, await RawTagAsync(market.Id, a));
        Assert.Equal(rawB, await RawTagAsync(market.Id, b));
        Assert.Equal(liveA, await market.UsageAsync(a));
        Assert.Equal(liveB, await market.UsageAsync(b));

        // The publisher sends A's first event again: its restored mark makes it a duplicate.
        await Stores.RepublishAsync(_deployment.AttestationDatabase, attested[0]);
        await probe.WaitUntilConsumedAsync([attested[0]], times: 2);
        Assert.Equal(rawA, await RawTagAsync(market.Id, a));
        Assert.Equal(liveA, await market.UsageAsync(a));
    }

    [Fact]
    public async Task AnAuthorizeOnATagThatLostItsData_RebuildsItFromTheLedgerBeforeDeciding()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        await market.AttestAsync(account, "unreserved", 3_000_000, final: true);
        var live = await market.WaitForUsageAsync(account, 3_000_000);
        var raw = await RawTagAsync(market.Id, account);

        await Stores.FlushTagAsync(_deployment.EnforcementRedis, market.Id, account);
        // 3,000,000 counted + 17,500,000 asked > 20,000,000: refused only if the rebuild counted the ledger.
        var refused = await market.AuthorizeAsync(market.Request(account, 17_500_000));

        Assert.Equal(Verdict.RequireStatedPurpose, refused.Verdict);
        Assert.Equal(3_000_000, refused.DecidingWindow.Usage);
        Assert.Equal(raw, await RawTagAsync(market.Id, account));
        Assert.Equal(live, await market.UsageAsync(account));
    }

    [Fact]
    public async Task RebuildCounters_KeepsTheHoldsOfLeasesStillRunning_ShrunkByWhatTheyAttested()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        var running = market.Request(account, 3_000_000);
        Assert.Equal(Verdict.Allow, (await market.AuthorizeAsync(running)).Verdict);
        await market.AttestAsync(account, running.LeaseId, 1_000_000, final: false);
        var live = await market.WaitForUsageAsync(account, 1_000_000);
        Assert.Equal(2_000_000, TestMarketplace.Window(live, "24h").Held);

        var rebuilt = await _deployment.EnforcementClient().RebuildCountersAsync(
            new RebuildCountersRequest { MarketplaceId = market.Id, AccountId = account }, _deployment.Admin);

        // Held as before: the budget a running lease still uses is not handed out again.
        Assert.Equal(1, rebuilt.AttestationsApplied);
        Assert.Equal(live, await market.UsageAsync(account));
        // 1,000,000 used + 2,000,000 held + 17,500,000 asked > 20,000,000.
        Assert.Equal(Verdict.RequireStatedPurpose, (await market.AuthorizeAsync(market.Request(account, 17_500_000, checkOnly: true))).Verdict);
        // The lease's final attestation releases what is left.
        await market.AttestAsync(account, running.LeaseId, 500_000, final: true);
        var settled = await market.WaitForUsageAsync(account, 1_500_000);
        Assert.Equal(0, TestMarketplace.Window(settled, "24h").Held);
    }

    [Fact]
    public async Task ReleaseReservation_OnATagWithoutItsEpoch_ReleasesTheHoldTheRebuildKept()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        var lease = market.Request(account, 3_000_000);
        Assert.Equal(Verdict.Allow, (await market.AuthorizeAsync(lease)).Verdict);
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(_deployment.EnforcementRedis))
        {
            await connection.GetDatabase().KeyDeleteAsync(Oversight.Enforcement.Redis.RedisCounterKeys.Epoch(Oversight.Policy.Counters.CounterTag.For(market.Id, account)));
        }

        var released = await _deployment.EnforcementClient().ReleaseReservationAsync(
            new ReleaseReservationRequest { MarketplaceId = market.Id, AccountId = account, LeaseId = lease.LeaseId }, market.Operator);

        Assert.True(released.Released);
        Assert.Equal(0, TestMarketplace.Window(await market.UsageAsync(account), "24h").Held);
    }

    [Fact]
    public async Task RebuildCounters_OfOneAccount_RebuildsItsTagOnly()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        var other = await market.CreateKnownAccountAsync();
        await market.AttestAsync(account, "unreserved", 1_000_000, final: true);
        await market.WaitForUsageAsync(account, 1_000_000);
        var heldByOther = await market.AuthorizeAsync(market.Request(other, 2_000_000));
        Assert.Equal(Verdict.Allow, heldByOther.Verdict);

        var rebuilt = await _deployment.EnforcementClient().RebuildCountersAsync(
            new RebuildCountersRequest { MarketplaceId = market.Id, AccountId = account }, _deployment.Admin);

        Assert.Equal((1L, 1L), (rebuilt.TagsRebuilt, rebuilt.AttestationsApplied));
        Assert.Equal(1_000_000, TestMarketplace.Window(await market.UsageAsync(account), "24h").Usage);
        // The other account's hold was not touched.
        Assert.Equal(2_000_000, TestMarketplace.Window(await market.UsageAsync(other), "24h").Held);
        await RpcAssert.InvalidArgumentAsync("marketplace_id", () => _deployment.EnforcementClient().RebuildCountersAsync(
            new RebuildCountersRequest { AccountId = account }, _deployment.Admin));

        // The marketplace's own admin may rebuild it; another marketplace's may not, nor rebuild everything.
        var own = await _deployment.EnforcementClient().RebuildCountersAsync(
            new RebuildCountersRequest { MarketplaceId = market.Id, AccountId = account }, _deployment.Auth("admin", market.Id));
        Assert.Equal(1, own.AttestationsApplied);
        var stranger = _deployment.Auth("admin", _deployment.NewMarketplace().Id);
        await RpcAssert.FailsAsync(Grpc.Core.StatusCode.PermissionDenied, () => _deployment.EnforcementClient().RebuildCountersAsync(
            new RebuildCountersRequest { MarketplaceId = market.Id, AccountId = account }, stranger));
        await RpcAssert.FailsAsync(Grpc.Core.StatusCode.PermissionDenied, () => _deployment.EnforcementClient().RebuildCountersAsync(
            new RebuildCountersRequest(), _deployment.Auth("admin", market.Id)));
        Assert.Equal(1_000_000, TestMarketplace.Window(await market.UsageAsync(account), "24h").Usage);
    }

    [Fact]
    public async Task ACluster_OfMoreAccountsThanOneLedgerExportTakes_IsRebuiltFromTheLedger()
    {
        var market = _deployment.NewMarketplace();
        var root = await market.CreateKnownAccountAsync();
        await market.AttestAsync(root, market.NewLeaseId(), 1_000);
        await market.WaitForUsageAsync(root, 1_000);
        var others = new List<string>();
        for (var i = 0; i < 1_000; i += 25)
        {
            others.AddRange(await Task.WhenAll(Enumerable.Range(0, 25).Select(_ => market.CreateAccountAsync())));
        }

        await market.AttestAsync(others[^1], market.NewLeaseId(), 2_000);

        // Links of at most 100 accounts a call: the last makes a cluster of 1,001 accounts, more
        // than one export of the ledger may name (1,000).
        foreach (var chunk in others.Chunk(99))
        {
            await _deployment.KycClient.LinkAccountsAsync(
                new LinkAccountsRequest { MarketplaceId = market.Id, AccountIds = { chunk.Prepend(root) }, Reason = "same organisation" }, market.Operator);
        }

        await market.WaitForUsageAsync(root, 3_000, seconds: 180);
        Assert.Equal(root, (await market.WaitForUsageAsync(others[^1], 3_000)).ClusterRoot);
    }

    /// <summary>
    /// A tag's keys and contents as they bear on counting: every counter hash exactly (bucket →
    /// amount), the counted marks and the key registry as sets, the holds; the epoch only as
    /// present (a rebuild writes a new one), and no TTLs (they are only a loose clean-up).
    /// </summary>
    private async Task<SortedDictionary<string, string>> RawTagAsync(string marketplace, string root)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(_deployment.EnforcementRedis);
        var database = connection.GetDatabase();
        var raw = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in await Stores.TagKeysAsync(_deployment.EnforcementRedis, marketplace, root))
        {
            raw[key] = await database.KeyTypeAsync(key) switch
            {
                RedisType.String => "epoch present",
                RedisType.Hash => string.Join(",", (await database.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal)),
                RedisType.SortedSet => string.Join(",", (await database.SortedSetRangeByRankAsync(key)).Select(v => v.ToString()).Order(StringComparer.Ordinal)),
                RedisType.Set => string.Join(",", (await database.SetMembersAsync(key)).Select(v => v.ToString()).Order(StringComparer.Ordinal)),
                var other => other.ToString(),
            };
        }

        return raw;
    }
}
