using Google.Protobuf.Reflection;
using Grpc.Core;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Enforcement.V1;
using Oversight.Hosting.Auth;
using Oversight.IntegrationTests.Flow;
using Oversight.Kyc.V1;
using Oversight.Testing;
using Xunit;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace Oversight.IntegrationTests.Security;

/// <summary>
/// One deployment (three hosts on real PostgreSQL, Redis and RabbitMQ) for a test class, the
/// catalogue of every RPC the hosts serve, which of them are implemented, tokens for any role
/// and marketplace, and a way to wait until the bus is quiet.
/// </summary>
public abstract class SecurityFixture : IAsyncLifetime
{
    /// <summary>A role no token may carry: a probe with it can change nothing (see <see cref="ProbeAsync"/>).</summary>
    public const string ProbeRole = "no-such-role";

    /// <summary>Every Oversight service whose methods the tests must cover.</summary>
    public static readonly IReadOnlyList<ServiceDescriptor> Services =
        [KycTiering.Descriptor, WorkloadAttestation.Descriptor, ThresholdEnforcement.Descriptor, SimulationClock.Descriptor];

    public static IEnumerable<MethodDescriptor> AllMethods => Services.SelectMany(s => s.Methods);

    public static MethodDescriptor Method(ServiceDescriptor service, string name) =>
        service.FindMethodByName(name) ?? throw new InvalidOperationException($"{service.FullName} has no method {name}");

    private readonly Dictionary<string, RpcOutcome> _probes = [];

    public Deployment Deployment { get; private set; } = null!;
    public FlowTarget Target => Deployment.Target;
    public BusActivity Bus { get; } = new();

    /// <summary>The deployment's own marketplace ("A").</summary>
    public string MarketplaceA => Deployment.Marketplace;

    /// <summary>What an empty request from <see cref="ProbeRole"/> answered, per method name ("Service.Method").</summary>
    public IReadOnlyDictionary<string, RpcOutcome> Probes => _probes;

    /// <summary>Methods that answer anything but UNIMPLEMENTED.</summary>
    public IReadOnlyList<MethodDescriptor> Implemented => AllMethods.Where(m => _probes[RpcCall.NameOf(m)].Code != StatusCode.Unimplemented).ToList();

    public bool IsImplemented(MethodDescriptor method) => _probes[RpcCall.NameOf(method)].Code != StatusCode.Unimplemented;

    public async Task InitializeAsync()
    {
        Deployment = await Deployment.StartAsync();
        foreach (var host in new[] { Deployment.Kyc, Deployment.Attestation, Deployment.Enforcement })
        {
            host.Services.GetRequiredService<IBus>().ConnectReceiveObserver(Bus);
        }

        await SetUpAsync();
        foreach (var method in AllMethods)
        {
            _probes[RpcCall.NameOf(method)] = await ProbeAsync(method);
        }
    }

    public virtual async Task DisposeAsync()
    {
        if (Deployment is not null)
        {
            await Deployment.DisposeAsync();
        }
    }

    /// <summary>Creates the resources the class needs, once the deployment runs.</summary>
    protected abstract Task SetUpAsync();

    /// <summary>
    /// Headers with a token for <paramref name="role"/> in <paramref name="marketplace"/> (and a
    /// provider id for providers). The service role is not bound to a marketplace, so its token
    /// carries none; every other role, admin included, carries the one given.
    /// </summary>
    public Metadata As(string role, string? marketplace, string? provider = null) =>
        new() { { "Authorization", "Bearer " + Deployment.Kyc.Token(role, role == Roles.Service ? null : marketplace, provider) } };

    /// <summary>The hosts that serve a service: its own, or all three for the simulation clock.</summary>
    public IReadOnlyList<(string Host, CallInvoker Invoker)> HostsOf(ServiceDescriptor service)
    {
        var kyc = ("kyc", Deployment.Kyc.Channel.CreateCallInvoker());
        var attestation = ("attestation", Deployment.Attestation.Channel.CreateCallInvoker());
        var enforcement = ("enforcement", Deployment.Enforcement.Channel.CreateCallInvoker());
        return service.FullName switch
        {
            "oversight.kyc.v1.KycTiering" => [kyc],
            "oversight.attestation.v1.WorkloadAttestation" => [attestation],
            "oversight.enforcement.v1.ThresholdEnforcement" => [enforcement],
            "oversight.common.v1.SimulationClock" => [kyc, attestation, enforcement],
            _ => throw new InvalidOperationException($"No host serves {service.FullName}"),
        };
    }

    /// <summary>
    /// Is the method implemented? An empty request with a token whose role no method allows: an
    /// implemented method refuses the role (or the empty request, or answers a public read),
    /// the generated base class answers UNIMPLEMENTED. The unknown role keeps the probe from
    /// changing anything (an empty RebuildCounters from an admin would rebuild every marketplace).
    /// </summary>
    private async Task<RpcOutcome> ProbeAsync(MethodDescriptor method)
    {
        var (_, invoker) = HostsOf(method.Service)[0];
        var requests = method.IsClientStreaming ? [] : new[] { RpcCall.Empty(method) };
        return await RpcCall.InvokeAsync(invoker, method, requests, As(ProbeRole, MarketplaceA));
    }

    /// <summary>
    /// Waits until every outbox is drained (each row has PublishedAt), nothing is being received
    /// on any host's bus, and neither has happened for <paramref name="quiet"/>: what a call
    /// published has been consumed.
    /// </summary>
    public async Task WaitUntilQuietAsync(TimeSpan? quiet = null, TimeSpan? timeout = null)
    {
        var calm = quiet ?? TimeSpan.FromMilliseconds(300);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var (unpublished, lastPublished) = await OutboxAsync();
            var now = DateTime.UtcNow;
            if (unpublished == 0 && Bus.InFlight <= 0 && now - Bus.LastActivity >= calm && now - lastPublished >= calm)
            {
                return;
            }

            if (now > deadline)
            {
                throw new Xunit.Sdk.XunitException($"The deployment did not become quiet: {unpublished} outbox rows unpublished, {Bus.InFlight} messages in consumers.");
            }

            await Task.Delay(50);
        }
    }

    private async Task<(long Unpublished, DateTime LastPublished)> OutboxAsync()
    {
        var outboxes = await Task.WhenAll(Deployment.Databases.Select(OutboxAsync));
        return (outboxes.Sum(o => o.Unpublished), outboxes.Max(o => o.LastPublished));
    }

    private static async Task<(long Unpublished, DateTime LastPublished)> OutboxAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FILTER (WHERE \"PublishedAt\" IS NULL), max(\"PublishedAt\") FROM outbox_messages", connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.IsDBNull(1) ? DateTime.MinValue : reader.GetFieldValue<DateTime>(1).ToUniversalTime());
    }

    /// <summary>Every table of the three databases and the marketplace's Redis keys (captured in parallel, joined in a fixed order).</summary>
    public async Task<string> SnapshotAsync(string marketplace)
    {
        var parts = Deployment.Databases.Select(database => StateSnapshot.CaptureAsync([database]))
            .Append(StateSnapshot.CaptureAsync([], TestServers.RedisConfiguration, "ovs:{" + marketplace + ":*"));
        return string.Concat(await Task.WhenAll(parts));
    }
}

/// <summary>Counts what the hosts' buses receive, to tell when consumers are idle and whether a call reached the bus.</summary>
public sealed class BusActivity : IReceiveObserver
{
    private int _inFlight;
    private long _received;
    private long _lastActivityTicks = DateTime.UtcNow.Ticks;

    public int InFlight => Volatile.Read(ref _inFlight);
    public long Received => Interlocked.Read(ref _received);
    public DateTime LastActivity => new(Interlocked.Read(ref _lastActivityTicks), DateTimeKind.Utc);

    public Task PreReceive(ReceiveContext context)
    {
        Interlocked.Increment(ref _inFlight);
        Touch();
        return Task.CompletedTask;
    }

    public Task PostReceive(ReceiveContext context)
    {
        Interlocked.Decrement(ref _inFlight);
        Interlocked.Increment(ref _received);
        Touch();
        return Task.CompletedTask;
    }

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType)
        where T : class
    {
        Touch();
        return Task.CompletedTask;
    }

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
        where T : class
    {
        Touch();
        return Task.CompletedTask;
    }

    public Task ReceiveFault(ReceiveContext context, Exception exception)
    {
        Interlocked.Decrement(ref _inFlight);
        Interlocked.Increment(ref _received);
        Touch();
        return Task.CompletedTask;
    }

    private void Touch() => Interlocked.Exchange(ref _lastActivityTicks, DateTime.UtcNow.Ticks);
}
