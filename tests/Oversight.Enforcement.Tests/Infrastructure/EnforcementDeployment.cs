using System.Globalization;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Attestation;
using Oversight.Attestation.V1;
using Oversight.Enforcement.V1;
using Oversight.Kyc;
using Oversight.Kyc.V1;
using Oversight.Testing;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>What a deployment differs in from the default.</summary>
public sealed record DeploymentOptions
{
    /// <summary>Enforcement replicas, all on the same Redis, database and peers.</summary>
    public int EnforcementHosts { get; init; } = 1;

    /// <summary>Enforcement's Redis (a private server in fault tests); null: the shared test Redis.</summary>
    public string? EnforcementRedis { get; init; }

    /// <summary>Extra settings of every host (e.g. Oversight:Bus:* for a fault test).</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; init; } = new Dictionary<string, string?>();

    /// <summary>
    /// Wait until every host reports ready (database, Redis, bus) before the deployment is handed
    /// out. Off for a test that starts enforcement while its Redis is down on purpose.
    /// </summary>
    public bool WaitUntilReady { get; init; } = true;

    /// <summary>Extra settings of the enforcement hosts only (e.g. the simulation clock).</summary>
    public IReadOnlyDictionary<string, string?> EnforcementSettings { get; init; } = new Dictionary<string, string?>();
}

/// <summary>
/// KYC, attestation and enforcement as separate hosts in this process (Kestrel on loopback),
/// connected only by gRPC and RabbitMQ, each with its own PostgreSQL database; enforcement on
/// Redis. A deployment has its own databases and bus prefix, so deployments share nothing; tests
/// on one deployment each use their own marketplace (<see cref="NewMarketplace"/>).
/// </summary>
public sealed class EnforcementDeployment : IAsyncDisposable
{
    private readonly Dictionary<string, string?> _enforcementSettings;
    private readonly List<ServiceHost> _enforcement = [];

    private EnforcementDeployment(string dataDirectory, string busPrefix, string kycDb, string attestationDb, string enforcementDb, string enforcementRedis, Dictionary<string, string?> enforcementSettings)
    {
        DataDirectory = dataDirectory;
        BusPrefix = busPrefix;
        KycDatabase = kycDb;
        AttestationDatabase = attestationDb;
        EnforcementDatabase = enforcementDb;
        EnforcementRedis = enforcementRedis;
        _enforcementSettings = enforcementSettings;
    }

    public string DataDirectory { get; }
    public string BusPrefix { get; }
    public string KycDatabase { get; }
    public string AttestationDatabase { get; }
    public string EnforcementDatabase { get; }
    public string EnforcementRedis { get; }
    public ServiceHost Kyc { get; private set; } = null!;
    public ServiceHost Attestation { get; private set; } = null!;
    public ServiceHost Enforcement => _enforcement[0];
    public IReadOnlyList<ServiceHost> EnforcementHosts => _enforcement;

    public KycTiering.KycTieringClient KycClient => new(Kyc.Channel);
    public WorkloadAttestation.WorkloadAttestationClient AttestationClient => new(Attestation.Channel);
    public ThresholdEnforcement.ThresholdEnforcementClient EnforcementClient(int host = 0) => new(_enforcement[host].Channel);

    /// <summary>Call headers with a development token (every host shares the data folder's key).</summary>
    public Metadata Auth(string role, string? marketplace = null, string? provider = null) => Kyc.Auth(role, marketplace, provider);

    public Metadata Admin => Auth("admin");

    public TestMarketplace NewMarketplace() => new(this, TestServers.UniqueId("m"));

    public static async Task<EnforcementDeployment> StartAsync(DeploymentOptions? options = null)
    {
        options ??= new DeploymentOptions();
        var dataDirectory = Directory.CreateTempSubdirectory("oversight-enforcement-tests-").FullName;
        var busPrefix = TestServers.UniqueId("e");
        var redis = await TestServers.GetRedisConfigurationAsync();
        var databases = await Task.WhenAll(
            TestServers.CreatePostgresDatabaseAsync("kyc"),
            TestServers.CreatePostgresDatabaseAsync("attestation"),
            TestServers.CreatePostgresDatabaseAsync("enforcement"));
        var common = new Dictionary<string, string?>
        {
            ["Oversight:Bus:Transport"] = "RabbitMq",
            ["Oversight:Bus:RabbitMqUri"] = (await TestServers.GetRabbitMqUriAsync()).ToString(),
            ["Oversight:Bus:EndpointPrefix"] = busPrefix,
            // Short waits, so that a test of an outage takes seconds, not minutes.
            ["Oversight:Bus:RetryIntervalMilliseconds"] = "200",
            ["Oversight:Bus:KillSwitchRestartSeconds"] = "2",
            // Expected races (two writers of one row, handled by a retry) would log as errors.
            ["Logging:LogLevel:Microsoft.EntityFrameworkCore"] = "Critical",
        };
        foreach (var (key, value) in options.Settings)
        {
            common[key] = value;
        }

        var deployment = new EnforcementDeployment(dataDirectory, busPrefix, databases[0], databases[1], databases[2], options.EnforcementRedis ?? redis,
            With(common, new(options.EnforcementSettings)));
        try
        {
            deployment.Kyc = await ServiceHost.StartAsync(
                With(common, new()
                {
                    ["Oversight:Kyc:Database:Provider"] = "Postgres",
                    ["Oversight:Kyc:Database:ConnectionString"] = deployment.KycDatabase,
                    ["Oversight:Kyc:Redis:Configuration"] = redis,
                }),
                b => b.AddKyc(), a => a.MapKyc(), dataDirectory);
            deployment.Attestation = await ServiceHost.StartAsync(
                With(common, new()
                {
                    ["Oversight:Attestation:Database:Provider"] = "Postgres",
                    ["Oversight:Attestation:Database:ConnectionString"] = deployment.AttestationDatabase,
                }),
                b => b.AddAttestation(), a => a.MapAttestation(), dataDirectory);
            for (var i = 0; i < options.EnforcementHosts; i++)
            {
                await deployment.StartEnforcementHostAsync(waitUntilReady: options.WaitUntilReady);
            }

            if (options.WaitUntilReady)
            {
                await WaitUntilReadyAsync(deployment.Kyc);
                await WaitUntilReadyAsync(deployment.Attestation);
            }
        }
        catch
        {
            await deployment.DisposeAsync();
            throw;
        }

        return deployment;
    }

    /// <summary>Starts one more enforcement replica on the same Redis, database and peers.</summary>
    /// <param name="settings">Settings of this replica only (e.g. an in-memory bus, so that it consumes nothing of the broker).</param>
    public async Task<ServiceHost> StartEnforcementHostAsync(
        Action<IServiceCollection>? overrideServices = null, bool waitUntilReady = true, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var host = await ServiceHost.StartAsync(
            With(With(_enforcementSettings, new()
            {
                ["Oversight:Enforcement:Database:Provider"] = "Postgres",
                ["Oversight:Enforcement:Database:ConnectionString"] = EnforcementDatabase,
                ["Oversight:Enforcement:RedisConfiguration"] = EnforcementRedis,
                ["Oversight:Enforcement:KycAddress"] = Kyc.GrpcAddress,
                ["Oversight:Enforcement:AttestationAddress"] = Attestation.GrpcAddress,
                ["Oversight:Enforcement:PolicyRefreshSeconds"] = "1",
            }), new(settings ?? new Dictionary<string, string?>())),
            b => b.AddEnforcement(), a => a.MapEnforcement(), DataDirectory, overrideServices);
        _enforcement.Add(host);
        if (waitUntilReady)
        {
            await WaitUntilReadyAsync(host);
        }

        return host;
    }

    /// <summary>
    /// Waits until the host's readiness endpoint answers 200: its database, Redis and bus are
    /// connected (on a busy machine the first Redis connection can take seconds, and until then
    /// enforcement rightly answers UNAVAILABLE).
    /// </summary>
    public static async Task WaitUntilReadyAsync(ServiceHost host, int seconds = 60)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var last = "no answer";
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                using var response = await http.GetAsync($"http://127.0.0.1:{host.HealthPort}/healthz/ready");
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                return response.IsSuccessStatusCode;
            }
            catch (HttpRequestException e)
            {
                last = e.Message;
                return false;
            }
            catch (TaskCanceledException)
            {
                last = "timed out";
                return false;
            }
        }, () => $"{host.GrpcAddress} to be ready (last: {last})", seconds);
    }

    /// <summary>The queue of a consumer in this deployment, named as the hosts name it (BusExtensions).</summary>
    public string QueueName(Type consumer)
    {
        var formatter = new MassTransit.KebabCaseEndpointNameFormatter(BusPrefix, includeNamespace: false);
        var method = typeof(MassTransit.KebabCaseEndpointNameFormatter).GetMethod(nameof(formatter.Consumer))!.MakeGenericMethod(consumer);
        return (string)method.Invoke(formatter, null)!;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _enforcement.AsEnumerable().Reverse().Append(Attestation).Append(Kyc))
        {
            if (host is not null)
            {
                try
                {
                    await host.DisposeAsync();
                }
                catch (Exception)
                {
                    // A host that failed half-way through its start; nothing more to stop.
                }
            }
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A temporary folder left for the OS.
        }
    }

    public static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static Dictionary<string, string?> With(Dictionary<string, string?> common, Dictionary<string, string?> specific) =>
        common.Concat(specific).GroupBy(e => e.Key).ToDictionary(g => g.Key, g => g.Last().Value);
}
