using Grpc.Core;
using Oversight.Common.V1;
using Oversight.Enforcement.Tests.Infrastructure;
using Oversight.Enforcement.V1;
using Oversight.Testing;
using Xunit.Abstractions;

namespace Oversight.Enforcement.Tests;

/// <summary>
/// Losing Redis (issue 6, item 9), each test with a private Redis of its own: Authorize fails
/// closed, UsageAttested waits in its queue (never the error queue) and is counted exactly once
/// when Redis is back, with its data or without it.
/// </summary>
public sealed class RedisStoppedWithItsDataTests(ITestOutputHelper output)
{
    [Fact]
    public async Task WhileRedisIsDown_AuthorizeFailsClosed_AndAttestationsWait_ThenCountExactlyOnceWhenItIsBack()
    {
        await using var redis = await RedisServerInstance.StartNewAsync(appendOnly: true);
        await using var deployment = await EnforcementDeployment.StartAsync(new DeploymentOptions { EnforcementRedis = redis.Configuration });
        var outage = await Outage.StartAsync(deployment, output);

        await redis.StopAsync(keepData: true);
        await outage.WhileDownAsync();
        await redis.StartAsync();
        await outage.AfterwardsAsync();
    }
}

public sealed class RedisRestartedEmptyTests(ITestOutputHelper output)
{
    [Fact]
    public async Task WhenRedisComesBackEmpty_EnforcementRebuildsFromTheLedger_AndCountsEverythingExactlyOnce()
    {
        await using var redis = await RedisServerInstance.StartNewAsync(appendOnly: false);
        await using var deployment = await EnforcementDeployment.StartAsync(new DeploymentOptions { EnforcementRedis = redis.Configuration });
        var outage = await Outage.StartAsync(deployment, output);

        await redis.StopAsync(keepData: false);
        await outage.WhileDownAsync();
        await redis.StartAsync();
        await outage.AfterwardsAsync();

        // A rebuild of everything (the admin command) finds the same figures again.
        var before = await outage.Market.UsageAsync(outage.Account);
        var rebuilt = await deployment.EnforcementClient().RebuildCountersAsync(new RebuildCountersRequest(), deployment.Admin);
        Assert.Equal((1L, 4L), (rebuilt.TagsRebuilt, rebuilt.AttestationsApplied));
        Assert.Equal(before, await outage.Market.UsageAsync(outage.Account));
    }
}

public sealed class FailOpenTests
{
    [Fact]
    public async Task APolicyThatFailsOpen_AllowsWithoutAReservation_WhileRedisIsDown()
    {
        await using var redis = await RedisServerInstance.StartNewAsync();
        await using var deployment = await EnforcementDeployment.StartAsync(new DeploymentOptions { EnforcementRedis = redis.Configuration });
        var open = deployment.NewMarketplace();
        var closed = deployment.NewMarketplace();
        var set = await deployment.EnforcementClient().SetPolicyAsync(new SetPolicyRequest
        {
            Document = TestPolicies.DefaultWith(open.Id, "fail_mode: open"),
            Format = PolicyFormat.Yaml,
        }, deployment.Admin);
        var openAccount = await open.CreateKnownAccountAsync();
        var closedAccount = await closed.CreateKnownAccountAsync();

        await redis.StopAsync();
        var allowed = await open.AuthorizeAsync(open.Request(openAccount, 1_000_000));
        var refused = await RpcAssert.FailsAsync(StatusCode.Unavailable, () => deployment.EnforcementClient().AuthorizeAsync(closed.Request(closedAccount, 1_000_000), closed.Operator));

        Assert.Equal((Verdict.Allow, set.Version, 1_000_000L), (allowed.Verdict, allowed.PolicyVersion, allowed.RequestedFlopUnits));
        Assert.Null(allowed.Reservation);
        Assert.Contains("fails open", allowed.Message, StringComparison.Ordinal);
        Assert.Contains("fails closed", refused.Status.Detail, StringComparison.Ordinal);

        // Back to normal when Redis is: a reservation again.
        await redis.StartAsync();
        AuthorizeResponse? again = null;
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                again = await open.AuthorizeAsync(open.Request(openAccount, 1_000_000));
                return again.Reservation is not null;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                return false; // still reconnecting
            }
        }, "Authorize to reserve again once Redis is back");
        Assert.Equal(1_000_000, TestMarketplace.Window(await open.UsageAsync(openAccount), "24h").Held);
    }
}

/// <summary>
/// The scenario both outage tests share: a lease reserved and partly attested before the
/// outage, more attestations (partial, final, unreserved) while Redis is down, and the checks
/// when it is back.
/// </summary>
internal sealed class Outage
{
    private readonly EnforcementDeployment _deployment;
    private readonly ITestOutputHelper _output;
    private readonly UsageProbe _probe;
    private readonly List<string> _attested = [];
    private string _leaseId = "";

    private Outage(EnforcementDeployment deployment, ITestOutputHelper output)
    {
        _deployment = deployment;
        _output = output;
        _probe = new UsageProbe(deployment.Enforcement);
        Market = deployment.NewMarketplace();
    }

    public TestMarketplace Market { get; }
    public string Account { get; private set; } = "";

    public static async Task<Outage> StartAsync(EnforcementDeployment deployment, ITestOutputHelper output)
    {
        var outage = new Outage(deployment, output);
        var market = outage.Market;
        outage.Account = await market.CreateKnownAccountAsync();
        var lease = market.Request(outage.Account, 3_000_000);
        outage._leaseId = lease.LeaseId;
        Assert.Equal(Verdict.Allow, (await market.AuthorizeAsync(lease)).Verdict);
        outage._attested.Add(await market.AttestAsync(outage.Account, lease.LeaseId, 1_000_000, final: false));
        await market.WaitForUsageAsync(outage.Account, 1_000_000);
        return outage;
    }

    /// <summary>Redis is down: enforcement fails closed, attestations are still accepted and queued.</summary>
    public async Task WhileDownAsync()
    {
        var client = _deployment.EnforcementClient();
        var e = await RpcAssert.FailsAsync(StatusCode.Unavailable, () => client.AuthorizeAsync(Market.Request(Account, 1_000), Market.Operator));
        Assert.Contains("fails closed", e.Status.Detail, StringComparison.Ordinal);
        await RpcAssert.FailsAsync(StatusCode.Unavailable, () => client.GetUsageAsync(new GetUsageRequest { MarketplaceId = Market.Id, AccountId = Account }, Market.Operator));

        var during = new[]
        {
            await Market.AttestAsync(Account, _leaseId, 500_000, final: false),
            await Market.AttestAsync(Account, _leaseId, 500_000, final: true),
            await Market.AttestAsync(Account, "unreserved", 2_000_000, final: true),
        };
        _attested.AddRange(during);
        // The events have left the attestation service and reach enforcement, which cannot count them yet.
        await Eventually.TrueAsync(async () =>
            (await Stores.OutboxAsync(_deployment.AttestationDatabase, "UsageAttested")).All(r => r.PublishedAt is not null), "UsageAttested published");
        // Give the consumer time to try (and fail) before Redis returns; nothing below depends on it.
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.All(during, id => Assert.Equal(0, _probe.Consumed(id)));
    }

    /// <summary>Redis is back: every attestation counted once, the hold released, nothing dead-lettered.</summary>
    public async Task AfterwardsAsync()
    {
        await Market.WaitForUsageAsync(Account, 4_000_000);
        await _probe.WaitUntilConsumedAsync(_attested);
        var usage = await Market.UsageAsync(Account);
        Assert.Equal((4_000_000L, 0L), (TestMarketplace.Window(usage, "24h").Usage, TestMarketplace.Window(usage, "24h").Held));
        Assert.Equal(4 * 3_600, TestMarketplace.Window(usage, "24h", Metric.GpuSeconds).Usage);
        Assert.Equal(Verdict.Allow, (await Market.AuthorizeAsync(Market.Request(Account, 1_000, checkOnly: true))).Verdict);

        var errorQueues = await ErrorQueues.AssertEmptyAsync(_deployment, await TestServers.GetRabbitMqUriAsync());
        _output.WriteLine("error queues: " + string.Join(", ", errorQueues.Select(q => $"{q.Key}={q.Value}")));
        _output.WriteLine($"consume attempts that ended in a fault notification (retried or cancelled by the kill switch, never dead-lettered): {_probe.Faulted}");
    }
}

public sealed class UnreachableDependencyTests
{
    [Fact]
    public async Task AnEnforcementHostStartedWhileRedisIsDown_FailsClosed_AndServesOnceRedisIsUp()
    {
        // A private Redis that is not running yet.
        await using var redis = new RedisServerInstance();
        await using var deployment = await EnforcementDeployment.StartAsync(new DeploymentOptions { EnforcementRedis = redis.Configuration, WaitUntilReady = false });
        var market = deployment.NewMarketplace();
        var account = await market.CreateAccountAsync();

        var e = await RpcAssert.FailsAsync(StatusCode.Unavailable, () => deployment.EnforcementClient().AuthorizeAsync(market.Request(account, 1_000), market.Operator));
        Assert.Contains("fails closed", e.Status.Detail, StringComparison.Ordinal);

        await redis.StartAsync();
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                return (await market.AuthorizeAsync(market.Request(account, 1_000))).Verdict == Verdict.Allow;
            }
            catch (RpcException r) when (r.StatusCode == StatusCode.Unavailable)
            {
                return false; // still connecting
            }
        }, "Authorize to answer once Redis is up");
    }

    [Fact]
    public async Task ATagThatMustBeRebuiltWhileTheLedgerCannotBeRead_FailsClosedWithAClearMessage()
    {
        await using var deployment = await EnforcementDeployment.StartAsync();
        var market = deployment.NewMarketplace();
        var account = await market.CreateAccountAsync();

        // The attestation service goes away: the account's tag, never used, cannot be built.
        await deployment.Attestation.DisposeAsync();
        var e = await RpcAssert.FailsAsync(StatusCode.Unavailable, () => deployment.EnforcementClient().AuthorizeAsync(market.Request(account, 1_000), market.Operator));
        Assert.Contains("attestation ledger", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("fails closed", e.Status.Detail, StringComparison.Ordinal);
        await RpcAssert.FailsAsync(StatusCode.Unavailable, () => deployment.EnforcementClient().GetUsageAsync(
            new GetUsageRequest { MarketplaceId = market.Id, AccountId = account }, market.Operator));
        Assert.Empty(await Stores.TagKeysAsync(deployment.EnforcementRedis, market.Id, account));
    }
}
