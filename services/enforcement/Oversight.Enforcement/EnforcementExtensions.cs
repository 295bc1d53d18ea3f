using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Oversight.Enforcement.Accounts;
using Oversight.Enforcement.Consumers;
using Oversight.Enforcement.Counters;
using Oversight.Enforcement.Data;
using Oversight.Enforcement.Policies;
using Oversight.Enforcement.Redis;
using Oversight.Hosting;
using Oversight.Hosting.Bus;
using Oversight.Hosting.Data;
using Oversight.Hosting.Outbox;
using Oversight.Policy.Accelerators;
using Oversight.Policy.Admission;
using Oversight.Policy.Counters;
using StackExchange.Redis;

namespace Oversight.Enforcement;

public static class EnforcementExtensions
{
    public const string ServiceName = "Enforcement";

    /// <summary>This service's database (section "Oversight:Enforcement:Database"), for AddOversightDatabase and the hosts' <c>migrate</c> mode.</summary>
    public static ServiceDatabase Database { get; } = ServiceDatabase.For<EnforcementDbContext>(ServiceName);

    /// <summary>Adds the threshold-enforcement service: database, counters, policy, peers, consumers.</summary>
    public static WebApplicationBuilder AddEnforcement(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var options = builder.Configuration.GetSection(EnforcementOptions.Section).Get<EnforcementOptions>() ?? new EnforcementOptions();
        var hosting = builder.Configuration.GetSection(HostingOptions.Section).Get<HostingOptions>() ?? new HostingOptions();
        services.AddOptions<EnforcementOptions>().BindConfiguration(EnforcementOptions.Section).ValidateOnStart();

        builder.AddOversightDatabase(Database);
        services.AddGrpcHealthName(V1.ThresholdEnforcement.Descriptor.FullName);
        services.AddOutboxPublisher<EnforcementDbContext>();

        if (string.IsNullOrWhiteSpace(options.RedisConfiguration))
        {
            // The embedded default: counters in memory, rebuilt from the ledger after a restart;
            // the holds of running leases kept in the data folder.
            services.AddSingleton<InMemoryCounterStore>();
            services.AddSingleton<ICounterStore>(sp => sp.GetRequiredService<InMemoryCounterStore>());
            services.AddHostedService<HoldsSnapshot>();
            services.AddSingleton<IRebuildLease, InProcessRebuildLease>();
        }
        else
        {
            services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(RedisOptions(options.RedisConfiguration)));
            services.AddSingleton<ICounterStore>(sp => new RedisCounterStore(sp.GetRequiredService<IConnectionMultiplexer>()));
            services.AddSingleton<IRebuildLease, RedisRebuildLease>();
            services.AddHealthChecks().AddCheck<RedisHealthCheck>("enforcement-redis", tags: [HealthTags.Ready]);
        }

        services.AddSingleton<CountersUnavailableInterceptor>();
        services.AddGrpc().AddServiceOptions<ThresholdEnforcementService>(grpc => grpc.Interceptors.Add<CountersUnavailableInterceptor>());

        services.AddSingleton(AcceleratorCatalogue.Default);
        services.AddSingleton<FlopEstimator>();
        services.AddSingleton<AdmissionEngine>();
        services.AddSingleton<EnforcementMetrics>();
        services.AddSingleton<PolicyRegistry>();
        services.AddSingleton<AccountDirectory>();
        services.AddSingleton<CounterRebuilder>();
        services.AddSingleton<ThresholdNotifier>();
        services.AddHostedService<SeedPolicyOnStart>();

        // Peers: KYC for tier confirmations, attestation for rebuilds. Empty addresses mean
        // this very host, which is right for the all-in-one host only.
        var self = $"http://{(hosting.BindAddress is "0.0.0.0" or "::" or "localhost" ? "127.0.0.1" : hosting.BindAddress)}:{hosting.GrpcPort}";
        services.AddGrpcClient<Kyc.V1.KycTiering.KycTieringClient>(client => client.Address = new Uri(Or(options.KycAddress, self)));
        services.AddGrpcClient<Attestation.V1.WorkloadAttestation.WorkloadAttestationClient>(client => client.Address = new Uri(Or(options.AttestationAddress, self)));

        services.AddBusRegistration(bus =>
        {
            bus.AddConsumer<UsageAttestedConsumer>();
            bus.AddConsumer<AccountEventsConsumer>();
        });
        return builder;
    }

    public static WebApplication MapEnforcement(this WebApplication app)
    {
        app.MapGrpcService<ThresholdEnforcementService>();
        return app;
    }

    /// <summary>
    /// The host starts, and keeps reconnecting, while Redis is down (AbortOnConnectFail off); a
    /// command issued while it is down fails at once instead of waiting in a backlog (FailFast),
    /// so Authorize fails closed quickly and a consumer's retry starts at once.
    /// </summary>
    public static ConfigurationOptions RedisOptions(string configuration)
    {
        var redis = ConfigurationOptions.Parse(configuration);
        redis.AbortOnConnectFail = false;
        redis.BacklogPolicy = BacklogPolicy.FailFast;
        return redis;
    }

    private static string Or(string? value, string fallback) => string.IsNullOrWhiteSpace(value) ? fallback : value;

    /// <summary>Stores the default policy as version 1 when there is none, before requests arrive.</summary>
    private sealed class SeedPolicyOnStart(PolicyRegistry policies) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken) => await policies.CurrentAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Readiness: the counter store answers. (A PING; not worth a package of its own.)</summary>
    private sealed class RedisHealthCheck(IConnectionMultiplexer redis) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                var latency = await redis.GetDatabase().PingAsync();
                return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:F1} ms");
            }
            catch (RedisException e)
            {
                return HealthCheckResult.Unhealthy("Redis does not answer", e);
            }
        }
    }
}
