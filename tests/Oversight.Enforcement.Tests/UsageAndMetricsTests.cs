using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Common.V1;
using Oversight.Enforcement.Tests.Infrastructure;
using Oversight.Enforcement.V1;

namespace Oversight.Enforcement.Tests;

/// <summary>GetUsage for operators and the OpenTelemetry metrics (issue 6, item 10).</summary>
public sealed class UsageAndMetricsTests : IAsyncLifetime
{
    private EnforcementDeployment _deployment = null!;

    public async Task InitializeAsync() => _deployment = await SharedDeployment.GetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task GetUsage_ReportsEveryWindowsUsageHeldLimitRemainingAndResetTime()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        Assert.Equal(Verdict.Allow, (await market.AuthorizeAsync(market.Request(account, 1_000_000, seconds: 120))).Verdict);
        var attestedAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await market.AttestAsync(account, "unreserved", 2_000_000, final: true, count: 2, seconds: 1800);

        var usage = await market.WaitForUsageAsync(account, 2_000_000);

        Assert.Equal(("anonymous", 0, account), (usage.Tier.Id, usage.Tier.Level, usage.ClusterRoot));
        Assert.Equal((await _deployment.EnforcementClient().GetPolicyAsync(new GetPolicyRequest(), market.Operator)).Version, usage.PolicyVersion);
        // Every limited window and metric of the anonymous tier of the default policy.
        var expected = new (string Window, Metric Metric, long Usage, long Held, long Limit)[]
        {
            ("24h", Metric.FlopUnits, 2_000_000, 1_000_000, 20_000_000),
            ("24h", Metric.GpuSeconds, 3_600, 120, 86_400),
            ("30d", Metric.FlopUnits, 2_000_000, 1_000_000, 100_000_000),
            ("30d", Metric.GpuSeconds, 3_600, 120, 360_000),
            ("lifetime", Metric.FlopUnits, 2_000_000, 1_000_000, 300_000_000),
        };
        Assert.Equal(expected, usage.Windows.Select(w => (w.Window, w.Metric, w.Usage, w.Held, w.Limit)));
        Assert.All(usage.Windows, w => Assert.Equal(w.Limit - w.Usage - w.Held, w.Remaining));
        Assert.All(usage.Windows, w => Assert.Equal("anonymous", w.TierId));

        // A rolling window resets when its oldest counted bucket leaves it: the end of the
        // attestation's hour (day) plus the window's length. The lifetime window never resets.
        var day = TestMarketplace.Window(usage, "24h");
        Assert.Equal(0, day.ResetsAt.Seconds % 3600);
        Assert.InRange(day.ResetsAt.Seconds, attestedAt - 5 + 86_400, attestedAt + 3_600 + 86_400);
        var month = TestMarketplace.Window(usage, "30d");
        Assert.Equal(0, month.ResetsAt.Seconds % 86_400);
        Assert.InRange(month.ResetsAt.Seconds, attestedAt - 5 + (30 * 86_400), attestedAt + (31 * 86_400));
        Assert.Null(TestMarketplace.Window(usage, "lifetime").ResetsAt);

        // Auditors and compliance read usage too; a provider does not.
        await _deployment.EnforcementClient().GetUsageAsync(new GetUsageRequest { MarketplaceId = market.Id, AccountId = account }, _deployment.Auth("auditor", market.Id));
        await RpcAssert.FailsAsync(Grpc.Core.StatusCode.PermissionDenied, () => _deployment.EnforcementClient().GetUsageAsync(
            new GetUsageRequest { MarketplaceId = market.Id, AccountId = account }, _deployment.Auth("provider", market.Id, TestMarketplace.Provider)));
    }

    [Fact]
    public async Task Metrics_OfVerdictsLatencyEventsDuplicatesAndRebuilds_AreRecordedOnTheEnforcementMeter()
    {
        var host = _deployment.Enforcement;
        using var allowed = new CounterWatch(host.Services, "oversight.enforcement.verdicts", Tagged("verdict", "ALLOW"));
        using var stepUps = new CounterWatch(host.Services, "oversight.enforcement.verdicts", Tagged("verdict", "REQUIRE_STATED_PURPOSE"));
        using var applied = new CounterWatch(host.Services, "oversight.enforcement.usage_applied");
        using var appliedHeld = new CounterWatch(host.Services, "oversight.enforcement.usage_applied", Tagged("reservation", "held"));
        using var appliedUnreserved = new CounterWatch(host.Services, "oversight.enforcement.usage_applied", Tagged("reservation", "none"));
        using var duplicates = new CounterWatch(host.Services, "oversight.enforcement.usage_duplicates");
        using var rebuilds = new CounterWatch(host.Services, "oversight.enforcement.rebuilds");
        using var latency = new HistogramWatch(host.Services, "oversight.enforcement.authorize.duration");
        using var probe = new UsageProbe(host);
        var market = _deployment.NewMarketplace();

        // A new account's tag is initialised by a rebuild from the (empty) ledger.
        var account = await market.CreateKnownAccountAsync();
        Assert.True(rebuilds.Total >= 1);
        var reserved = market.NewLeaseId();
        await market.AuthorizeAsync(market.Request(account, 1_000, reserved));
        await market.AuthorizeAsync(market.Request(account, 1_000));
        await market.AuthorizeAsync(market.Request(account, 30_000_000));
        var held = await market.AttestAsync(account, reserved, 1_000, final: true);
        await probe.WaitUntilConsumedAsync([held]);
        Assert.True(appliedHeld.Total >= 1, $"usage applied under a reservation {appliedHeld.Total}");
        var unreservedBefore = appliedUnreserved.Total;
        var attestation = await market.AttestAsync(account, "unreserved", 1_000_000, final: true);
        await probe.WaitUntilConsumedAsync([attestation]);
        Assert.True(appliedUnreserved.Total >= unreservedBefore + 1, $"usage applied without a reservation {appliedUnreserved.Total}");
        await Stores.RepublishAsync(_deployment.AttestationDatabase, attestation);
        await probe.WaitUntilConsumedAsync([attestation], times: 2);

        // Other tests use this host at the same time: its counters only grow by at least ours.
        Assert.True(allowed.Total >= 2, $"ALLOW verdicts {allowed.Total}");
        Assert.True(stepUps.Total >= 1, $"REQUIRE_STATED_PURPOSE verdicts {stepUps.Total}");
        Assert.True(latency.Count >= 3, $"authorize durations {latency.Count}");
        Assert.True(applied.Total >= 1, $"usage applied {applied.Total}");
        Assert.True(duplicates.Total >= 1, $"duplicates {duplicates.Total}");

        // The same instruments are on the host's Prometheus endpoint (health port).
        using var http = new HttpClient();
        string text = "";
        await Eventually.TrueAsync(async () =>
        {
            text = await http.GetStringAsync($"http://127.0.0.1:{host.HealthPort}/metrics");
            return text.Contains("oversight_enforcement_usage_duplicates", StringComparison.Ordinal);
        }, "the duplicate counter on /metrics", 30);
        foreach (var name in new[] { "oversight_enforcement_verdicts", "oversight_enforcement_authorize_duration", "oversight_enforcement_usage_applied", "oversight_enforcement_rebuilds" })
        {
            Assert.Contains(name, text, StringComparison.Ordinal);
        }

        Assert.Contains("verdict=\"REQUIRE_STATED_PURPOSE\"", text, StringComparison.Ordinal);
        Assert.Contains("reservation=\"none\"", text, StringComparison.Ordinal);
    }

    private static Func<ReadOnlySpan<KeyValuePair<string, object?>>, bool> Tagged(string key, string value) => tags =>
    {
        foreach (var tag in tags)
        {
            if (tag.Key == key && Equals(tag.Value, value))
            {
                return true;
            }
        }

        return false;
    };
}

/// <summary>Counts the measurements of one histogram of the host's "Oversight.Enforcement" meter.</summary>
public sealed class HistogramWatch : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _count;

    public HistogramWatch(IServiceProvider host, string instrument)
    {
        var factory = host.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (i, listener) =>
        {
            if (i.Meter.Name == EnforcementMetrics.MeterName && ReferenceEquals(i.Meter.Scope, factory) && i.Name == instrument)
            {
                listener.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref _count));
        _listener.Start();
    }

    public long Count => Interlocked.Read(ref _count);

    public void Dispose() => _listener.Dispose();
}
