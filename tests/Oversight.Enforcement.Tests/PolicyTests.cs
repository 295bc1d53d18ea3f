using System.Diagnostics.Metrics;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Common.V1;
using Oversight.Enforcement.Tests.Infrastructure;
using Oversight.Enforcement.V1;
using Oversight.Policy.Documents;

namespace Oversight.Enforcement.Tests;

/// <summary>A deployment of its own: these tests change the policy, which is global to enforcement.</summary>
public sealed class PolicyDeploymentFixture : IAsyncLifetime
{
    public EnforcementDeployment Deployment { get; private set; } = null!;

    // Enforcement on a simulation clock (frozen until SetClock), so that a hold's expiry is exact.
    public async Task InitializeAsync() => Deployment = await EnforcementDeployment.StartAsync(new DeploymentOptions
    {
        EnforcementSettings = new Dictionary<string, string?> { ["Oversight:Simulation:Enabled"] = "true" },
    });

    public async Task DisposeAsync() => await Deployment.DisposeAsync();
}

/// <summary>Enforcement owns the policy (issue 6, item 1): SetPolicy validates, stores a version, applies it at once, publishes PolicyChanged.</summary>
public sealed class PolicyTests(PolicyDeploymentFixture fixture) : IClassFixture<PolicyDeploymentFixture>
{
    private EnforcementDeployment Deployment => fixture.Deployment;
    private ThresholdEnforcement.ThresholdEnforcementClient Client => Deployment.EnforcementClient();

    [Fact]
    public async Task SetPolicy_ByAnAdmin_StoresANewVersion_ThatTheVeryNextAuthorizeUsesAndNames()
    {
        var market = Deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        var request = market.Request(account, 5_000, checkOnly: true);
        var before = await market.AuthorizeAsync(request);
        Assert.Equal(Verdict.Allow, before.Verdict);
        var versionsBefore = (await Client.ListPolicyVersionsAsync(new ListPolicyVersionsRequest(), market.Operator)).Versions;

        var document = TestPolicies.DefaultWith(market.Id, TestPolicies.Ladder(anonymous: 1_000));
        var set = await Client.SetPolicyAsync(new SetPolicyRequest { Document = document, Format = PolicyFormat.Yaml, Comment = "tight anonymous budget" }, Deployment.Admin);
        var after = await market.AuthorizeAsync(request);

        Assert.Equal(versionsBefore.Max(v => v.Version) + 1, set.Version);
        Assert.Equal(before.PolicyVersion + 1, set.Version);
        Assert.Equal(set.Version, after.PolicyVersion);
        Assert.Equal(Verdict.RequireStatedPurpose, after.Verdict);
        Assert.Equal(("24h", Metric.FlopUnits, 1_000L), (after.DecidingWindow.Window, after.DecidingWindow.Metric, after.DecidingWindow.Limit));

        // The history keeps every version, the new one with its comment and who set it; who set
        // it is the deployment's business, not a marketplace's.
        var history = (await Client.ListPolicyVersionsAsync(new ListPolicyVersionsRequest(), market.Operator)).Versions;
        Assert.Equal(versionsBefore.Select(v => v.Version).Append(set.Version), history.Select(v => v.Version));
        Assert.Equal(("tight anonymous budget", ""), (history[^1].Comment, history[^1].Actor));
        Assert.All(history, v => Assert.Empty(v.Actor));
        var whole = (await Client.ListPolicyVersionsAsync(new ListPolicyVersionsRequest(), Deployment.Admin)).Versions;
        Assert.Equal(("tight anonymous budget", "admin:test-admin"), (whole[^1].Comment, whole[^1].Actor));
        Assert.Equal(("default policy", "system"), (whole[0].Comment, whole[0].Actor));
        var marketAdmin = (await Client.ListPolicyVersionsAsync(new ListPolicyVersionsRequest(), Deployment.Auth("admin", market.Id))).Versions;
        Assert.Empty(marketAdmin[^1].Actor);
        var stored = await Client.GetPolicyAsync(new GetPolicyRequest(), market.Operator);
        Assert.Equal((set.Version, document, PolicyFormat.Yaml), (stored.Version, stored.Document, stored.Format));
        Assert.Equal(DefaultPolicy.Yaml, (await Client.GetPolicyAsync(new GetPolicyRequest { Version = 1 }, market.Operator)).Document);
        await RpcAssert.FailsAsync(StatusCode.NotFound, () => Client.GetPolicyAsync(new GetPolicyRequest { Version = set.Version + 100 }, market.Operator));

        // Another marketplace keeps the default ladder under the same version.
        var other = Deployment.NewMarketplace();
        var otherAccount = await other.CreateKnownAccountAsync();
        var untouched = await other.AuthorizeAsync(other.Request(otherAccount, 5_000, checkOnly: true));
        Assert.Equal((Verdict.Allow, set.Version), (untouched.Verdict, untouched.PolicyVersion));

        // PolicyChanged leaves through the outbox: the row is committed with the version and published.
        await Eventually.TrueAsync(async () =>
        {
            var rows = await Stores.OutboxAsync(Deployment.EnforcementDatabase, "PolicyChanged");
            var row = rows.SingleOrDefault(r => r.Json.GetProperty("version").GetInt64() == set.Version);
            return row is { PublishedAt: not null } && row.Json.GetProperty("document").GetString() == document;
        }, $"PolicyChanged {set.Version} published");
    }

    [Fact]
    public async Task SetPolicy_WithAnInvalidDocument_IsInvalidArgumentNamingTheDocumentField_AndStoresNothing()
    {
        var versions = (await Client.ListPolicyVersionsAsync(new ListPolicyVersionsRequest(), Deployment.Admin)).Versions.Count;
        var outbox = (await Stores.OutboxAsync(Deployment.EnforcementDatabase, "PolicyChanged")).Count;
        var cases = new (string Field, string Document)[]
        {
            // A higher tier allowing less than the one below, at the top level and in an override.
            ("document.ladder[1].limits.24h.flop_units", DefaultPolicy.Yaml.Replace("flop_units: 2000000000 ", "flop_units: 1000 ", StringComparison.Ordinal)),
            ("document.overrides.m-x.ladder[1].limits.24h.flop_units", TestPolicies.DefaultWith("m-x", TestPolicies.Ladder(anonymous: 1_000, statedPurpose: 999))),
            ("document.near_limit_fraction", DefaultPolicy.Yaml.Replace("near_limit_fraction: 0.8", "near_limit_fraction: 1.5", StringComparison.Ordinal)),
            ("document.windows[0].bucket_seconds", DefaultPolicy.Yaml.Replace("bucket_seconds: 3600", "bucket_seconds: 7000", StringComparison.Ordinal)),
            ("document.fail_mode", DefaultPolicy.Yaml.Replace("fail_mode: closed", "fail_mode: sometimes", StringComparison.Ordinal)),
            ("document.surprise", DefaultPolicy.Yaml + "\nsurprise: 1\n"),
        };

        foreach (var (field, document) in cases)
        {
            await RpcAssert.InvalidArgumentAsync(field, () => Client.SetPolicyAsync(new SetPolicyRequest { Document = document, Format = PolicyFormat.Yaml }, Deployment.Admin));
        }

        await RpcAssert.InvalidArgumentAsync("document", () => Client.SetPolicyAsync(new SetPolicyRequest { Document = "", Format = PolicyFormat.Yaml }, Deployment.Admin));
        // A document that does not parse at all is the field "document" itself.
        await RpcAssert.InvalidArgumentAsync("document", () => Client.SetPolicyAsync(new SetPolicyRequest { Document = "windows: [ {", Format = PolicyFormat.Yaml }, Deployment.Admin));
        // Labelled JSON, written in YAML: refused rather than stored under the wrong label.
        await RpcAssert.InvalidArgumentAsync("document", () => Client.SetPolicyAsync(new SetPolicyRequest { Document = DefaultPolicy.Yaml, Format = PolicyFormat.Json }, Deployment.Admin));
        await RpcAssert.InvalidArgumentAsync("format", () => Client.SetPolicyAsync(new SetPolicyRequest { Document = DefaultPolicy.Yaml }, Deployment.Admin));
        Assert.Equal(versions, (await Client.ListPolicyVersionsAsync(new ListPolicyVersionsRequest(), Deployment.Admin)).Versions.Count);
        Assert.Equal(outbox, (await Stores.OutboxAsync(Deployment.EnforcementDatabase, "PolicyChanged")).Count);
    }

    [Fact]
    public async Task GetPolicy_ByACallerOfOneMarketplace_ShowsOnlyThatMarketplacesOverride()
    {
        var market = Deployment.NewMarketplace();
        var other = Deployment.NewMarketplace();
        var third = Deployment.NewMarketplace();
        var document = TestPolicies.DefaultWith(new Dictionary<string, string>
        {
            [market.Id] = TestPolicies.Ladder(anonymous: 1_000),
            [other.Id] = TestPolicies.Ladder(anonymous: 2_000),
        });
        var set = await Client.SetPolicyAsync(new SetPolicyRequest { Document = document, Format = PolicyFormat.Yaml, Comment = "two overrides" }, Deployment.Admin);
        var stored = PolicyLoader.Load(document);

        // A deployment-wide admin sees the document as stored.
        var full = await Client.GetPolicyAsync(new GetPolicyRequest { Version = set.Version }, Deployment.Admin);
        Assert.Equal((document, PolicyFormat.Yaml), (full.Document, full.Format));

        // The operator of one marketplace sees its own override and not the other's, in a document
        // that still loads and means the same for it.
        var own = await Client.GetPolicyAsync(new GetPolicyRequest { Version = set.Version }, market.Operator);
        var ownDocument = PolicyLoader.Load(own.Document);
        Assert.Equal((set.Version, PolicyFormat.Yaml, "two overrides"), (own.Version, own.Format, own.Comment));
        Assert.Equal([market.Id], ownDocument.Overrides.Keys);
        Assert.DoesNotContain(other.Id, own.Document, StringComparison.Ordinal);
        Assert.Equal(stored.Resolve(market.Id).Document, ownDocument.Resolve(market.Id).Document);

        // A marketplace without an override sees none, and a marketplace admin is scoped like its operator.
        var none = await Client.GetPolicyAsync(new GetPolicyRequest(), third.Operator);
        Assert.Empty(PolicyLoader.Load(none.Document).Overrides);
        Assert.Equal(stored.Resolve(third.Id).Document, PolicyLoader.Load(none.Document).Resolve(third.Id).Document);
        var otherAdmin = await Client.GetPolicyAsync(new GetPolicyRequest(), Deployment.Auth("admin", other.Id));
        Assert.Equal([other.Id], PolicyLoader.Load(otherAdmin.Document).Overrides.Keys);
        Assert.DoesNotContain(market.Id, otherAdmin.Document, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetPolicy_InJson_IsStoredAsJson_AndApplies()
    {
        var market = Deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        string Tier(string id, string name, string requirement, long limit) =>
            $$"""{ "id": "{{id}}", "display_name": "{{name}}", "requirement": "{{requirement}}", "limits": { "24h": { "flop_units": {{limit}} } } }""";
        var document = $$"""
            {
              "windows": [ { "id": "24h", "length_seconds": 86400, "bucket_seconds": 3600 }, { "id": "lifetime" } ],
              "ladder": [
                {{Tier("anonymous", "Anonymous", "none", 20_000_000)}},
                {{Tier("stated_purpose", "Stated purpose", "stated_purpose", 2_000_000_000)}},
                {{Tier("identity_verified", "Identity verified", "identity", 200_000_000_000)}},
                {{Tier("organisation_verified", "Organisation verified", "organisation", 100_000_000_000_000)}}
              ],
              "overrides": { "{{market.Id}}": { "near_limit_fraction": 0.5 } }
            }
            """;

        var set = await Client.SetPolicyAsync(new SetPolicyRequest { Document = document, Format = PolicyFormat.Json, Comment = "as JSON" }, Deployment.Admin);
        var stored = await Client.GetPolicyAsync(new GetPolicyRequest { Version = set.Version }, market.Operator);
        // 11,000,000 of 20,000,000 is past this marketplace's 50% (the JSON override), not the default 80%.
        var near = await market.AuthorizeAsync(market.Request(account, 11_000_000, checkOnly: true));

        Assert.Equal((PolicyFormat.Json, document), (stored.Format, stored.Document));
        Assert.Equal((Verdict.AllowNearLimit, set.Version), (near.Verdict, near.PolicyVersion));
        Assert.Equal(["24h"], near.Windows.Select(w => w.Window));
    }

    [Fact]
    public async Task SetPolicy_ByAnyoneButAnAdmin_IsPermissionDenied()
    {
        var market = Deployment.NewMarketplace();
        var versions = (await Client.ListPolicyVersionsAsync(new ListPolicyVersionsRequest(), market.Operator)).Versions.Count;
        var request = new SetPolicyRequest { Document = DefaultPolicy.Yaml, Format = PolicyFormat.Yaml };

        foreach (var role in new[] { "operator", "compliance", "auditor", "service" })
        {
            await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.SetPolicyAsync(request, Deployment.Auth(role, role == "service" ? null : market.Id)));
        }

        // The document holds every marketplace's override: an admin bound to one marketplace may not set it.
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.SetPolicyAsync(request, Deployment.Auth("admin", market.Id)));

        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.RebuildCountersAsync(new RebuildCountersRequest { MarketplaceId = market.Id }, market.Operator));
        Assert.Equal(versions, (await Client.ListPolicyVersionsAsync(new ListPolicyVersionsRequest(), market.Operator)).Versions.Count);
    }

    [Fact]
    public async Task AHold_ExpiresAfterThePolicysTimeToLive_FreesItsBudget_AndIsCountedInMetrics()
    {
        var market = Deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        using var expired = new CounterWatch(Deployment.Enforcement.Services, "oversight.enforcement.holds_expired");
        await Client.SetPolicyAsync(new SetPolicyRequest
        {
            Document = TestPolicies.DefaultWith(market.Id, TestPolicies.Ladder(anonymous: 10_000) + "hold_ttl_seconds: 600"),
            Format = PolicyFormat.Yaml,
        }, Deployment.Admin);
        var clock = new SimulationClock.SimulationClockClient(Deployment.Enforcement.Channel);
        var now = (await clock.GetClockAsync(new GetClockRequest(), Deployment.Admin)).Now.ToDateTimeOffset();

        var held = await market.AuthorizeAsync(market.Request(account, 10_000));
        Assert.Equal(Verdict.AllowNearLimit, held.Verdict);
        Assert.Equal(now.ToUnixTimeSeconds() + 600, held.Reservation.ExpiresAt.Seconds);
        Assert.Equal(Verdict.RequireStatedPurpose, (await market.AuthorizeAsync(market.Request(account, 10_000, checkOnly: true))).Verdict);

        // A second before its end the hold still blocks; at its end the next Authorize prunes it.
        await clock.SetClockAsync(new SetClockRequest { Now = Timestamp.FromDateTimeOffset(now.AddSeconds(599)) }, Deployment.Admin);
        Assert.Equal(Verdict.RequireStatedPurpose, (await market.AuthorizeAsync(market.Request(account, 10_000, checkOnly: true))).Verdict);
        Assert.Equal(0, expired.Total);
        await clock.SetClockAsync(new SetClockRequest { Now = Timestamp.FromDateTimeOffset(now.AddSeconds(600)) }, Deployment.Admin);
        Assert.Equal(Verdict.AllowNearLimit, (await market.AuthorizeAsync(market.Request(account, 10_000, checkOnly: true))).Verdict);
        Assert.Equal(1, expired.Total);
        Assert.Equal(0, TestMarketplace.Window(await market.UsageAsync(account), "24h").Held);
    }

    [Fact]
    public async Task AnEventOlderThanTheMarkRetention_IsCountedByARebuildOfItsTag_SoItsRedeliveryStillCountsOnce()
    {
        var market = Deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        using var probe = new UsageProbe(Deployment.Enforcement);
        using var rebuilds = new CounterWatch(Deployment.Enforcement.Services, "oversight.enforcement.rebuilds");
        await Client.SetPolicyAsync(new SetPolicyRequest
        {
            Document = TestPolicies.DefaultWith(market.Id, "counted_mark_retention_seconds: 60"),
            Format = PolicyFormat.Yaml,
        }, Deployment.Admin);
        // Enforcement's clock runs two minutes ahead of the attestation service's: every event
        // arrives older than the 60 s for which "counted" marks are kept.
        var clock = new SimulationClock.SimulationClockClient(Deployment.Enforcement.Channel);
        var now = (await clock.GetClockAsync(new GetClockRequest(), Deployment.Admin)).Now.ToDateTimeOffset();
        var ahead = DateTimeOffset.UtcNow.AddSeconds(120);
        await clock.SetClockAsync(new SetClockRequest { Now = Timestamp.FromDateTimeOffset(ahead > now ? ahead : now) }, Deployment.Admin);

        var attestation = await market.AttestAsync(account, "unreserved", 1_000_000, final: true);
        await probe.WaitUntilConsumedAsync([attestation]);
        await market.WaitForUsageAsync(account, 1_000_000);
        Assert.Equal(1, rebuilds.Total);

        // Its mark would have expired: a redelivery rebuilds the tag again rather than count it live.
        await Stores.RepublishAsync(Deployment.AttestationDatabase, attestation);
        await probe.WaitUntilConsumedAsync([attestation], times: 2);
        Assert.Equal(2, rebuilds.Total);
        Assert.Equal(1_000_000, TestMarketplace.Window(await market.UsageAsync(account), "24h").Usage);
    }

    [Fact]
    public async Task AfterTheMarkRetentionIsRaised_AnEventCountedUnderTheShorterOne_IsRebuiltNotCountedAgain()
    {
        var market = Deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        using var probe = new UsageProbe(Deployment.Enforcement);
        await Client.SetPolicyAsync(new SetPolicyRequest { Document = TestPolicies.DefaultWith(market.Id, "counted_mark_retention_seconds: 60"), Format = PolicyFormat.Yaml }, Deployment.Admin);
        var clock = new SimulationClock.SimulationClockClient(Deployment.Enforcement.Channel);
        var now = (await clock.GetClockAsync(new GetClockRequest(), Deployment.Admin)).Now.ToDateTimeOffset();
        var start = DateTimeOffset.UtcNow > now ? DateTimeOffset.UtcNow : now;
        await clock.SetClockAsync(new SetClockRequest { Now = Timestamp.FromDateTimeOffset(start) }, Deployment.Admin);

        // Counted live, its "counted" mark kept for 60 s.
        var attestation = await market.AttestAsync(account, "raised", 1_000_000, final: true);
        await probe.WaitUntilConsumedAsync([attestation]);
        await market.WaitForUsageAsync(account, 1_000_000);

        // The retention is raised to an hour, and two minutes pass: the mark is gone, though the
        // event is well inside the new retention. Its redelivery must not be counted again.
        await Client.SetPolicyAsync(new SetPolicyRequest { Document = TestPolicies.DefaultWith(market.Id, "counted_mark_retention_seconds: 3600"), Format = PolicyFormat.Yaml }, Deployment.Admin);
        await clock.SetClockAsync(new SetClockRequest { Now = Timestamp.FromDateTimeOffset(start.AddSeconds(120)) }, Deployment.Admin);
        await Stores.RepublishAsync(Deployment.AttestationDatabase, attestation);
        await probe.WaitUntilConsumedAsync([attestation], times: 2);

        Assert.Equal(1_000_000, TestMarketplace.Window(await market.UsageAsync(account), "24h").Usage);
    }
}

/// <summary>Sums one counter of the host's "Oversight.Enforcement" meter, recorded in this process.</summary>
public sealed class CounterWatch : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _total;

    public CounterWatch(IServiceProvider host, string instrument, Func<ReadOnlySpan<KeyValuePair<string, object?>>, bool>? where = null)
    {
        var factory = host.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (i, listener) =>
        {
            // Only this host's meter: other hosts of the test run record on meters of the same name.
            if (i.Meter.Name == EnforcementMetrics.MeterName && ReferenceEquals(i.Meter.Scope, factory) && i.Name == instrument)
            {
                listener.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            if (where is null || where(tags))
            {
                Interlocked.Add(ref _total, value);
            }
        });
        _listener.Start();
    }

    public long Total => Interlocked.Read(ref _total);

    public void Dispose() => _listener.Dispose();
}
