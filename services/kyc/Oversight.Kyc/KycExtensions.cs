using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Oversight.Hosting;
using Oversight.Hosting.Bus;
using Oversight.Hosting.Data;
using Oversight.Hosting.Outbox;
using Oversight.Kyc.Accounts;
using Oversight.Kyc.Consumers;
using Oversight.Kyc.Data;
using Oversight.Kyc.Purposes;
using Oversight.Kyc.Secrets;
using Oversight.Kyc.Tokens;
using Oversight.Kyc.Verification;

namespace Oversight.Kyc;

public static class KycExtensions
{
    public const string ServiceName = "Kyc";

    /// <summary>This service's database (section "Oversight:Kyc:Database"), for AddOversightDatabase and the hosts' <c>migrate</c> mode.</summary>
    public static ServiceDatabase Database { get; } = ServiceDatabase.For<KycDbContext>(ServiceName);

    /// <summary>Adds the KYC tiering service: its database, secrets, tier-token keys, cache, identity providers, outbox, expiry sweep and consumers.</summary>
    public static WebApplicationBuilder AddKyc(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var configuration = builder.Configuration;
        var isDevelopment = builder.Environment.IsDevelopment();
        var hosting = configuration.GetSection(HostingOptions.Section).Get<HostingOptions>() ?? new HostingOptions();
        // Read once, lazily: only a Development host with a missing secret touches the file.
        var developmentSecrets = new Lazy<DevelopmentSecrets>(() => DevelopmentSecrets.LoadOrCreate(hosting.DataDirectory));

        builder.AddOversightDatabase(Database);
        services.AddGrpcHealthName(V1.KycTiering.Descriptor.FullName);
        services.AddOptions<KycOptions>().BindConfiguration(KycOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        services.AddOptions<KycSecretsOptions>()
            .BindConfiguration(KycSecretsOptions.Section)
            .PostConfigure(secrets =>
            {
                if (isDevelopment)
                {
                    FillFromDevelopment(secrets, developmentSecrets);
                }
            })
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<KycSecretsOptions>, KycSecretsValidator>();

        services.AddOptions<TierTokenOptions>()
            .BindConfiguration(TierTokenOptions.Section)
            .PostConfigure(tokens =>
            {
                if (isDevelopment && tokens.SigningKeys.Count == 0)
                {
                    tokens.SigningKeys.Add(DevelopmentTierTokenKey.LoadOrCreate(hosting.DataDirectory));
                }
            })
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<TierTokenOptions>, TierTokenOptionsValidator>();
        services.AddSingleton<TierTokenKeys>();

        AddIdentityProviders(builder, isDevelopment, developmentSecrets);
        AddAccountCache(services, configuration);

        services.AddSingleton<PolicySource>();
        services.AddSingleton<KycCrypto>();
        services.AddSingleton<AccountCache>();
        services.AddOutboxPublisher<KycDbContext>();
        // One instance, so that tests and tools can run a sweep at once (SweepAsync).
        services.AddSingleton<VerificationExpiryService>();
        services.AddHostedService(provider => provider.GetRequiredService<VerificationExpiryService>());
        services.AddBusRegistration(bus =>
        {
            bus.AddConsumer<KycPolicyChangedConsumer>();
            bus.AddConsumer<KycThresholdCrossedConsumer>();
        });
        return builder;
    }

    public static WebApplication MapKyc(this WebApplication app)
    {
        app.MapGrpcService<KycTieringService>();
        return app;
    }

    private static void FillFromDevelopment(KycSecretsOptions secrets, Lazy<DevelopmentSecrets> development)
    {
        if (secrets.PurposeKeys.Count == 0)
        {
            secrets.PurposeKeys[development.Value.PurposeKeyVersion] = development.Value.PurposeKey;
            secrets.CurrentPurposeKeyVersion ??= development.Value.PurposeKeyVersion;
        }

        if (!secrets.PurposeHashKey.IsSet)
        {
            secrets.PurposeHashKey = new VersionedKey { Version = development.Value.PurposeHashKeyVersion, Key = development.Value.PurposeHashKey };
        }

        if (!secrets.BlindIndexKey.IsSet)
        {
            secrets.BlindIndexKey = new VersionedKey { Version = development.Value.BlindIndexKeyVersion, Key = development.Value.BlindIndexKey };
        }
    }

    private static void AddIdentityProviders(WebApplicationBuilder builder, bool isDevelopment, Lazy<DevelopmentSecrets> developmentSecrets)
    {
        var section = SimulatedProviderOptions.Section;
        var enabled = builder.Configuration.GetValue<bool?>($"{section}:Enabled") ?? isDevelopment;
        if (!enabled)
        {
            return;
        }

        if (builder.Environment.IsProduction())
        {
            throw new OptionsValidationException(section, typeof(SimulatedProviderOptions),
                [$"{section}:Enabled is refused in Production: the simulated provider approves whatever its secret holder signs."]);
        }

        builder.Services.AddOptions<SimulatedProviderOptions>()
            .BindConfiguration(section)
            .PostConfigure(simulated =>
            {
                if (isDevelopment && simulated.Secrets.Count == 0)
                {
                    simulated.Secrets.Add(new CallbackSecretOptions { Id = developmentSecrets.Value.SimulatedSecretId, Secret = developmentSecrets.Value.SimulatedSecret });
                }
            })
            .Validate(simulated => simulated.Secrets.Any(s => !string.IsNullOrEmpty(s.Id) && s.Secret.Length >= 16),
                $"{section}:Secrets is required: at least one {{Id, Secret}} with a secret of 16 or more characters.")
            .ValidateOnStart();
        builder.Services.AddSingleton<IIdentityVerificationProvider, SimulatedIdentityProvider>();
    }

    private static void AddAccountCache(IServiceCollection services, IConfiguration configuration)
    {
        var redis = configuration[$"{KycOptions.Section}:Redis:Configuration"];
        // Built here rather than with AddStackExchangeRedisCache, whose options are global: a host
        // composing several services keeps each one's cache settings apart.
        services.AddKeyedSingleton<IDistributedCache>(AccountCache.ServiceKey, (_, _) => string.IsNullOrWhiteSpace(redis)
            ? new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()))
            : new RedisCache(Options.Create(new RedisCacheOptions { Configuration = redis, InstanceName = "ovs:kyc:" })));
    }
}
