using Google.Rpc;
using Grpc.Core;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Hosting.Auth;
using Oversight.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Oversight.IntegrationTests.Security;

/// <summary>
/// Marketplace A with two sets of resources: Main, which the malformed requests aim at, and
/// Control, on which every valid request is sent once. Plus a host in simulation mode for
/// SetClock (the deployment's hosts run on the system clock).
/// </summary>
public sealed class BadInputFixture : SecurityFixture
{
    public Tenant Main { get; private set; } = null!;
    public Tenant Control { get; private set; } = null!;
    public ServiceHost ClockHost { get; private set; } = null!;

    protected override async Task SetUpAsync()
    {
        var main = Tenant.CreateAsync(this, MarketplaceA);
        var control = Tenant.CreateAsync(this, MarketplaceA);
        var clock = ServiceHost.StartAsync(
            new Dictionary<string, string?> { ["Oversight:Simulation:Enabled"] = "true" }, _ => { }, _ => { }, Deployment.DataDirectory);
        (Main, Control, ClockHost) = (await main, await control, await clock);
        await WaitUntilQuietAsync();
    }

    public override async Task DisposeAsync()
    {
        if (ClockHost is not null)
        {
            await ClockHost.DisposeAsync();
        }

        await base.DisposeAsync();
    }

    public CallInvoker InvokerFor(ValidRequest valid) =>
        valid.OnClockHost ? ClockHost.Channel.CreateCallInvoker() : HostsOf(valid.Method.Service)[0].Invoker;

    public Metadata? HeadersFor(ValidRequest valid, Tenant tenant) =>
        valid.Role is { } role ? As(role, SpansEveryMarketplace(valid) ? null : tenant.Marketplace, role == Roles.Provider ? tenant.ProviderId : null) : null;

    /// <summary>The policy and the clock span every marketplace: they take a deployment-wide admin token (no marketplace claim).</summary>
    private static bool SpansEveryMarketplace(ValidRequest valid) => valid.Method.Name is "SetClock" or "SetPolicy";
}

/// <summary>
/// Issue 3, item 6: every implemented RPC, sent a valid request with one field broken, answers
/// the precise status; INVALID_ARGUMENT carries a google.rpc.BadRequest violation naming the
/// field by its proto path; the message names the field; and nothing changed: the three
/// databases (the outboxes, where the bus begins, included), the marketplace's Redis keys and
/// what the buses received.
/// </summary>
public sealed class BadInputTests(BadInputFixture fixture, ITestOutputHelper output) : IClassFixture<BadInputFixture>
{
    /// <summary>
    /// Where a service is known to be wrong today (case id -> what happens). Each still runs and
    /// must still fail; a fix makes the test fail until the entry is removed.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> KnownGaps = new Dictionary<string, string>
    {
    };

    public static TheoryData<string> Cases => new(BadInputCases.All.Select(c => c.Id));

    [Fact]
    public void EveryImplementedRpc_HasBadInputCases()
    {
        var covered = BadInputCases.All.Select(c => c.Valid.Name).ToHashSet();
        var missing = new List<string>();
        foreach (var method in SecurityFixture.AllMethods)
        {
            var name = RpcCall.NameOf(method);
            var count = BadInputCases.All.Count(c => c.Valid.Name == name);
            var implemented = fixture.IsImplemented(method);
            output.WriteLine($"{name,-52} implemented: {(implemented ? "yes" : "no "),-4} fields: {method.InputType.Fields.InDeclarationOrder().Count,2} cases: {count}");
            if (implemented && method.InputType.Fields.InDeclarationOrder().Count > 0 && !covered.Contains(name))
            {
                missing.Add(name);
            }
        }

        Assert.True(missing.Count == 0, $"Implemented RPCs with request fields but no bad-input case in BadInputCases: {string.Join(", ", missing)}");
        output.WriteLine($"{BadInputCases.All.Count} cases");
    }

    /// <summary>The requests the cases break are valid: sent as they are (on Control's resources), each is accepted.</summary>
    [Fact]
    public async Task ValidRequests_AreAccepted_SoEachCaseBreaksOnlyOneField()
    {
        foreach (var valid in BadInputCases.Valid)
        {
            if (!fixture.IsImplemented(valid.Method))
            {
                output.WriteLine($"{valid.Name}: not implemented yet ({fixture.Probes[valid.Name]})");
                continue;
            }

            var outcome = await RpcCall.InvokeAsync(fixture.InvokerFor(valid), valid.Method, [valid.Create(fixture.Control)], fixture.HeadersFor(valid, fixture.Control));
            output.WriteLine($"{valid.Name}: {outcome}");
            Assert.True(outcome.Code == StatusCode.OK, $"The valid request of {valid.Name} was refused: {outcome}");
            foreach (var receipt in outcome.Responses.OfType<SubmitAttestationResponse>().Select(r => r.Receipt))
            {
                Assert.True(receipt.Outcome == Outcome.Accepted, $"{valid.Name}: {receipt}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task MalformedField_IsRefusedPrecisely_AndChangesNothing(string id)
    {
        var c = BadInputCases.Case(id);
        var valid = c.Valid;
        if (!fixture.IsImplemented(valid.Method))
        {
            // Not a silent pass: the method must really answer UNIMPLEMENTED, and the case takes effect once it is written.
            Assert.Equal(StatusCode.Unimplemented, fixture.Probes[valid.Name].Code);
            output.WriteLine($"{valid.Name} is not implemented yet; this case applies once it is.");
            return;
        }

        var tenant = fixture.Main;
        var request = valid.Create(tenant, c.Break, c.Finish);
        var headers = c.Headers is not null ? c.Headers(fixture, tenant) : fixture.HeadersFor(valid, tenant);
        var invoker = fixture.InvokerFor(valid);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        await fixture.WaitUntilQuietAsync();
        var quiet = watch.ElapsedMilliseconds;
        var received = fixture.Bus.Received;
        var clockBefore = valid.OnClockHost ? await ClockAsync() : null;
        var before = await fixture.SnapshotAsync(tenant.Marketplace);
        var snapshot = watch.ElapsedMilliseconds - quiet;
        var outcome = await RpcCall.InvokeAsync(invoker, valid.Method, [request], headers);
        var call = watch.ElapsedMilliseconds - quiet - snapshot;
        var after = await fixture.SnapshotAsync(tenant.Marketplace);
        var clockAfter = valid.OnClockHost ? await ClockAsync() : null;
        output.WriteLine($"{id}: {outcome}");
        output.WriteLine($"  quiet after {quiet} ms, snapshot {snapshot} ms, call {call} ms, {before.Length} characters of state");
        if (outcome.BadRequest is { } badRequest)
        {
            output.WriteLine("  violations: " + string.Join("; ", badRequest.FieldViolations.Select(v => $"{v.Field}: {v.Description}")));
        }

        await Check(id, () =>
        {
            AssertAnswer(c, outcome);
            return Task.CompletedTask;
        });
        await Check(id + " :state", () =>
        {
            Assert.True(fixture.Bus.Received == received, $"The buses received {fixture.Bus.Received - received} messages during the call.");
            Assert.True(before == after, "The call changed the state:\n" + Diff(before, after));
            Assert.Equal(clockBefore, clockAfter);
            return Task.CompletedTask;
        });
    }

    [Fact]
    public void KnownGaps_AreListed()
    {
        foreach (var (key, description) in KnownGaps)
        {
            output.WriteLine($"{key}: {description}");
        }

        Assert.All(KnownGaps.Keys, key => Assert.Contains(BadInputCases.All, c => key == c.Id || key == c.Id + " :state"));
    }

    private static void AssertAnswer(BadInputCase c, RpcOutcome outcome)
    {
        Assert.True(outcome.Code == c.Code, $"expected {c.Code}, got {outcome}");
        if (c.Code == StatusCode.InvalidArgument)
        {
            var violations = outcome.BadRequest?.FieldViolations.ToList()
                ?? throw new Xunit.Sdk.XunitException($"INVALID_ARGUMENT without a google.rpc.BadRequest detail: {outcome}");
            var violation = violations.FirstOrDefault(v => Names(v.Field, c.Field));
            Assert.True(violation is not null,
                $"no field violation names '{c.Field}'; violations: {string.Join("; ", violations.Select(v => $"{v.Field}: {v.Description}"))}");
            Assert.True(Mentions(outcome.Message, c.Field), $"the status message does not mention '{c.Field}': '{outcome.Message}'");
        }
        else if (c.Code != StatusCode.OK)
        {
            Assert.True(Mentions(outcome.Message, c.Field), $"the {c.Code} message does not name the field '{c.Field}': '{outcome.Message}'");
        }

        if (c.ExtraCheck?.Invoke(outcome) is { } problem)
        {
            throw new Xunit.Sdk.XunitException(problem);
        }
    }

    /// <summary>The violation names the field, or a path inside it (a policy document's own field, e.g. document.ladder).</summary>
    private static bool Names(string violationField, string field) =>
        violationField == field || (violationField.StartsWith(field + ".", StringComparison.Ordinal) && violationField.Length > field.Length + 1);

    private static bool Mentions(string message, string field) =>
        message.Contains(field, StringComparison.Ordinal) || message.Contains(ProtoPath.LeafName(field), StringComparison.Ordinal);

    private async Task<string> ClockAsync() =>
        (await new SimulationClock.SimulationClockClient(fixture.ClockHost.Channel).GetClockAsync(new GetClockRequest(), fixture.As(Roles.Admin, fixture.MarketplaceA))).Now.ToString();

    private Task Check(string key, Func<Task> check) => Security.KnownGaps.CheckAsync(KnownGaps, key, check, output);

    private static string Diff(string before, string after)
    {
        var old = before.Split('\n').ToHashSet();
        var now = after.Split('\n').ToHashSet();
        return string.Join("\n", old.Except(now).Select(l => "- " + l).Concat(now.Except(old).Select(l => "+ " + l)));
    }
}
