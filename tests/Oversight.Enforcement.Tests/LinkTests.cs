using Microsoft.Extensions.DependencyInjection;
using Oversight.Common.V1;
using Oversight.Enforcement.Redis;
using Oversight.Enforcement.Tests.Infrastructure;
using Oversight.Enforcement.V1;
using Oversight.Kyc.V1;
using Oversight.Policy.Counters;
using StackExchange.Redis;

namespace Oversight.Enforcement.Tests;

/// <summary>
/// A link moves the linked accounts' usage and holds into the cluster root's tag (a rebuild from
/// the ledger), whatever else enforcement learnt first and whatever fails on the way. Each test
/// stops or replaces enforcement hosts, so each has a deployment of its own.
/// </summary>
public sealed class LinkTests
{
    [Fact]
    public async Task ALinkKycsAnswerTellsEnforcementBeforeItsEvent_NeitherJudgesTheAccountWithoutItsUsage_NorKeepsTheLinkFromMovingIt()
    {
        await using var deployment = await EnforcementDeployment.StartAsync();
        var market = deployment.NewMarketplace();
        var root = await market.CreateKnownAccountAsync();
        var linked = await market.CreateKnownAccountAsync();
        await market.AttestAsync(root, market.NewLeaseId(), 1_000);
        await market.AttestAsync(linked, market.NewLeaseId(), 2_000);
        await market.WaitForUsageAsync(root, 1_000);
        await market.WaitForUsageAsync(linked, 2_000);
        var running = market.Request(linked, 4_000);
        Assert.Equal(Verdict.Allow, (await market.AuthorizeAsync(running)).Verdict);

        // Enforcement stops consuming: the link's AccountsLinked waits in its queue.
        await deployment.Enforcement.DisposeAsync();
        var link = await deployment.KycClient.LinkAccountsAsync(
            new LinkAccountsRequest { MarketplaceId = market.Id, AccountIds = { root, linked }, Reason = "same payment instrument" }, market.Operator);
        Assert.Equal(root, link.ClusterRoot);

        // A replica that consumes nothing of the broker is asked for what fits beside the root's
        // usage alone (20,000,000 a day anonymously) but not beside the cluster's. The linked
        // account's own figures ask for a step-up, so the replica confirms the account with KYC,
        // whose answer already names the new root: the request must not be judged on the root's
        // tag, which does not hold the linked account's usage and holds until the link moves them.
        var deciding = await deployment.StartEnforcementHostAsync(settings: new Dictionary<string, string?> { ["Oversight:Bus:Transport"] = "InMemory" });
        var request = market.Request(linked, 20_000_000 - 1_000);
        var answer = await deployment.EnforcementClient(1).AuthorizeAsync(request, market.Operator);
        Assert.Equal(Verdict.RequireStatedPurpose, answer.Verdict);
        await deciding.DisposeAsync();

        // Enforcement consumes the link: the cluster counts both accounts' usage and holds.
        await deployment.StartEnforcementHostAsync();
        foreach (var account in new[] { root, linked })
        {
            var usage = await market.WaitForUsageAsync(account, 3_000, host: 2);
            Assert.Equal(root, usage.ClusterRoot);
            Assert.Equal(4_000, TestMarketplace.Window(usage, "24h").Held);
        }
    }

    [Fact]
    public async Task ALinkWhoseRebuildFailsOnce_IsRebuiltWhenItsEventIsRetried()
    {
        await using var deployment = await EnforcementDeployment.StartAsync();
        await deployment.Enforcement.DisposeAsync();
        var host = await deployment.StartEnforcementHostAsync(services => services.AddSingleton<ICounterStore>(sp =>
            new ResetFailingCounterStore(new RedisCounterStore(sp.GetRequiredService<IConnectionMultiplexer>()))));
        var market = deployment.NewMarketplace();
        var root = await market.CreateKnownAccountAsync(1);
        var linked = await market.CreateKnownAccountAsync(1);
        await market.AttestAsync(root, market.NewLeaseId(), 1_000);
        await market.AttestAsync(linked, market.NewLeaseId(), 2_000);
        await market.WaitForUsageAsync(root, 1_000, host: 1);
        await market.WaitForUsageAsync(linked, 2_000, host: 1);
        var running = market.Request(linked, 4_000);
        Assert.Equal(Verdict.Allow, (await market.AuthorizeAsync(running, host: 1)).Verdict);

        // Redis times out when the link's rebuild resets the root's tag; the event is retried.
        ((ResetFailingCounterStore)host.Services.GetRequiredService<ICounterStore>()).FailNextReset();
        var link = await deployment.KycClient.LinkAccountsAsync(
            new LinkAccountsRequest { MarketplaceId = market.Id, AccountIds = { root, linked }, Reason = "same payment instrument" }, market.Operator);
        Assert.Equal(root, link.ClusterRoot);

        foreach (var account in new[] { root, linked })
        {
            var usage = await market.WaitForUsageAsync(account, 3_000, host: 1);
            Assert.Equal(root, usage.ClusterRoot);
            Assert.Equal(4_000, TestMarketplace.Window(usage, "24h").Held);
        }
    }

    [Fact]
    public async Task AnAuthorizeThatReadTheAccountBeforeALinkAndReservesAfterIt_IsJudgedOnTheCluster_NotOnTheTagTheAccountLeft()
    {
        await using var deployment = await EnforcementDeployment.StartAsync();
        await deployment.Enforcement.DisposeAsync();
        var host = await deployment.StartEnforcementHostAsync(services => services.AddSingleton<ICounterStore>(sp =>
            new GatedReserveCounterStore(new RedisCounterStore(sp.GetRequiredService<IConnectionMultiplexer>()))));
        var store = (GatedReserveCounterStore)host.Services.GetRequiredService<ICounterStore>();
        var market = deployment.NewMarketplace();
        var root = await market.CreateKnownAccountAsync(1);
        var linked = await market.CreateKnownAccountAsync(1);
        await market.AttestAsync(root, market.NewLeaseId(), 10_000_000, count: 4);
        await market.AttestAsync(linked, market.NewLeaseId(), 1_000);
        await market.WaitForUsageAsync(root, 10_000_000, host: 1);
        await market.WaitForUsageAsync(linked, 1_000, host: 1);

        // The linked account asks for what fits beside its own usage (20,000,000 a day anonymously)
        // but not beside the cluster's; the replica read the account before the link and reserves
        // only once the link has moved its counters to the root's tag and cleared the one it left.
        store.Arm();
        var authorizing = market.AuthorizeAsync(market.Request(linked, 15_000_000), host: 1);
        await store.Entered.WaitAsync(TimeSpan.FromSeconds(60));
        await deployment.KycClient.LinkAccountsAsync(
            new LinkAccountsRequest { MarketplaceId = market.Id, AccountIds = { root, linked }, Reason = "same payment instrument" }, market.Operator);
        await market.WaitForUsageAsync(root, 10_001_000, host: 1);
        await Eventually.TrueAsync(async () => !(await Stores.TagKeysAsync(deployment.EnforcementRedis, market.Id, linked)).Any(k => k.EndsWith(":e", StringComparison.Ordinal)),
            "the tag the linked account left to be cleared");
        store.Open();

        Assert.Equal(Verdict.RequireStatedPurpose, (await authorizing).Verdict);
        Assert.Equal(0, TestMarketplace.Window(await market.UsageAsync(linked, 1), "24h").Held);
    }
}
