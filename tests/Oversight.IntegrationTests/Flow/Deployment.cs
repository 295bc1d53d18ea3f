using Grpc.Net.Client;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Attestation;
using Oversight.Enforcement;
using Oversight.Kyc;
using Oversight.Testing;

namespace Oversight.IntegrationTests.Flow;

/// <summary>
/// The three services as separate hosts in this process (Kestrel on loopback), connected only
/// by gRPC and RabbitMQ, each with its own PostgreSQL database, enforcement on Redis. Each
/// deployment has its own marketplace, databases and bus prefix: tests share no state.
/// </summary>
public sealed class Deployment : IAsyncDisposable
{
    public const string IdentitySecretId = "sim-1";
    public const string IdentitySecret = "test-simulated-provider-secret";

    private Deployment(string dataDirectory, string marketplace, string kycDb, string attestationDb, string enforcementDb, string busPrefix)
    {
        DataDirectory = dataDirectory;
        Marketplace = marketplace;
        KycDatabase = kycDb;
        AttestationDatabase = attestationDb;
        EnforcementDatabase = enforcementDb;
        BusPrefix = busPrefix;
    }

    public string DataDirectory { get; }
    public string Marketplace { get; }
    public string KycDatabase { get; }
    public string AttestationDatabase { get; }
    public string EnforcementDatabase { get; }
    public string BusPrefix { get; }
    public ServiceHost Kyc { get; private set; } = null!;
    public ServiceHost Attestation { get; private set; } = null!;
    public ServiceHost Enforcement { get; private set; } = null!;

    public FlowTarget Target => new(Kyc.Channel, Attestation.Channel, _enforcementChannel,
        (role, marketplace, provider) => Kyc.Token(role, role is "admin" or "service" ? null : marketplace, provider));

    public IEnumerable<string> Databases => [KycDatabase, AttestationDatabase, EnforcementDatabase];

    /// <param name="rabbitMqUri">Another broker than the shared test one (a test that stops its broker).</param>
    public static async Task<Deployment> StartAsync(Uri? rabbitMqUri = null)
    {
        var deployment = new Deployment(
            Directory.CreateTempSubdirectory("oversight-flow-").FullName,
            TestServers.UniqueId("m"),
            await TestServers.CreatePostgresDatabaseAsync("kyc"),
            await TestServers.CreatePostgresDatabaseAsync("attestation"),
            await TestServers.CreatePostgresDatabaseAsync("enforcement"),
            TestServers.UniqueId("t"));
        var bus = new Dictionary<string, string?>
        {
            ["Oversight:Bus:Transport"] = "RabbitMq",
            ["Oversight:Bus:RabbitMqUri"] = (rabbitMqUri ?? await TestServers.GetRabbitMqUriAsync()).ToString(),
            ["Oversight:Bus:EndpointPrefix"] = deployment.BusPrefix,
            // Short waits so that a test of an outage does not take minutes.
            ["Oversight:Bus:RetryIntervalMilliseconds"] = "200",
        };

        deployment.Kyc = await ServiceHost.StartAsync(
            With(bus, new()
            {
                ["Oversight:Kyc:Database:Provider"] = "Postgres",
                ["Oversight:Kyc:Database:ConnectionString"] = deployment.KycDatabase,
                ["Oversight:Kyc:Redis:Configuration"] = await TestServers.GetRedisConfigurationAsync(),
                ["Oversight:Kyc:IdentityProviders:simulated:Secrets:0:Id"] = IdentitySecretId,
                ["Oversight:Kyc:IdentityProviders:simulated:Secrets:0:Secret"] = IdentitySecret,
            }),
            b => b.AddKyc(), a => a.MapKyc(), deployment.DataDirectory);
        deployment.Attestation = await ServiceHost.StartAsync(
            With(bus, new()
            {
                ["Oversight:Attestation:Database:Provider"] = "Postgres",
                ["Oversight:Attestation:Database:ConnectionString"] = deployment.AttestationDatabase,
            }),
            b => b.AddAttestation(), a => a.MapAttestation(), deployment.DataDirectory);
        deployment._enforcementSettings = With(bus, new()
        {
            ["Oversight:Enforcement:Database:Provider"] = "Postgres",
            ["Oversight:Enforcement:Database:ConnectionString"] = deployment.EnforcementDatabase,
            ["Oversight:Enforcement:RedisConfiguration"] = await TestServers.GetRedisConfigurationAsync(),
            ["Oversight:Enforcement:KycAddress"] = deployment.Kyc.GrpcAddress,
            ["Oversight:Enforcement:AttestationAddress"] = deployment.Attestation.GrpcAddress,
        });
        deployment.Enforcement = await deployment.StartEnforcementAsync(ports: null);
        // The deployment's own channel, by address: it reaches enforcement again after a restart.
        deployment._enforcementChannel = GrpcChannel.ForAddress(deployment.Enforcement.GrpcAddress, new GrpcChannelOptions { MaxRetryAttempts = 0 });
        return deployment;
    }

    /// <summary>
    /// Stops the enforcement host, runs <paramref name="whileStopped"/>, and starts it again on the
    /// same ports (as a restarted pod behind its service address): the tests' channels reach it again.
    /// </summary>
    public async Task RestartEnforcementAsync(Func<Task> whileStopped)
    {
        var ports = (Enforcement.GrpcPort, Enforcement.HealthPort);
        // Stopped once ready, as a pod is: a bus still starting is not stopped, and would declare
        // its queues after the stop.
        var bus = Enforcement.Services.GetRequiredService<IBusControl>();
        for (var waited = 0; bus.CheckHealth().Status != BusHealthStatus.Healthy; waited++)
        {
            if (waited == 300)
            {
                throw new TimeoutException("enforcement's bus did not start within 30 s");
            }

            await Task.Delay(100);
        }

        await Enforcement.DisposeAsync();
        await whileStopped();
        Enforcement = await StartEnforcementAsync(ports);
    }

    private Task<ServiceHost> StartEnforcementAsync((int Grpc, int Health)? ports) =>
        ServiceHost.StartAsync(_enforcementSettings, b => b.AddEnforcement(), a => a.MapEnforcement(), DataDirectory, ports: ports);

    private Dictionary<string, string?> _enforcementSettings = [];
    private GrpcChannel _enforcementChannel = null!;

    public async ValueTask DisposeAsync()
    {
        _enforcementChannel?.Dispose();
        foreach (var host in new[] { Enforcement, Attestation, Kyc })
        {
            if (host is not null)
            {
                await host.DisposeAsync();
            }
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // Left for the OS to clean: a temporary folder.
        }
    }

    private static Dictionary<string, string?> With(Dictionary<string, string?> common, Dictionary<string, string?> specific) =>
        common.Concat(specific).ToDictionary(e => e.Key, e => e.Value);
}
