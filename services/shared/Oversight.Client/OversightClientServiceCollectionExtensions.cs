using Grpc.Core;
using Grpc.Net.ClientFactory;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Oversight.Attestation.V1;
using Oversight.Client;
using Oversight.Enforcement.V1;
using Oversight.Kyc.V1;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Oversight client.</summary>
public static class OversightClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="OversightClient"/> and the three typed gRPC clients
    /// (<see cref="KycTiering.KycTieringClient"/>, <see cref="WorkloadAttestation.WorkloadAttestationClient"/>,
    /// <see cref="ThresholdEnforcement.ThresholdEnforcementClient"/>) with options bound from the
    /// section <c>Oversight:Client</c> of <paramref name="configuration"/>, then adjusted by
    /// <paramref name="configure"/>. Every call carries the bearer token of
    /// <see cref="IOversightTokenProvider"/>, a deadline, gRPC's retry policy for idempotent methods
    /// (<see cref="OversightRetryPolicy"/>) and throws <see cref="OversightException"/>s.
    /// </summary>
    public static IServiceCollection AddOversightClient(this IServiceCollection services, IConfiguration configuration, Action<OversightClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = services.AddOptions<OversightClientOptions>().Bind(configuration.GetSection(OversightClientOptions.Section));
        if (configure is not null)
        {
            options.Configure(configure);
        }

        return services.AddOversightClientCore();
    }

    /// <summary>Registers the Oversight client with options set in code only (see the other overload).</summary>
    public static IServiceCollection AddOversightClient(this IServiceCollection services, Action<OversightClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<OversightClientOptions>().Configure(configure);
        return services.AddOversightClientCore();
    }

    private static IServiceCollection AddOversightClientCore(this IServiceCollection services)
    {
        services.AddOptions<OversightClientOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OversightClientOptions>, OversightClientOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IOversightTokenProvider, ConfiguredTokenProvider>();
        services.TryAddSingleton<OversightCallInterceptor>();
        services.TryAddSingleton<KeyCache>();

        AddClient<KycTiering.KycTieringClient>(services, OversightService.Kyc);
        AddClient<WorkloadAttestation.WorkloadAttestationClient>(services, OversightService.Attestation);
        AddClient<ThresholdEnforcement.ThresholdEnforcementClient>(services, OversightService.Enforcement);
        services.TryAddTransient(provider => new OversightClient(
            provider.GetRequiredService<KycTiering.KycTieringClient>(),
            provider.GetRequiredService<WorkloadAttestation.WorkloadAttestationClient>(),
            provider.GetRequiredService<ThresholdEnforcement.ThresholdEnforcementClient>(),
            provider.GetRequiredService<KeyCache>(),
            provider.GetRequiredService<TimeProvider>()));
        return services;
    }

    private static void AddClient<TClient>(IServiceCollection services, OversightService service)
        where TClient : ClientBase
    {
        // Registering twice (AddOversightClient called again) would stack a second interceptor.
        if (services.Any(d => d.ServiceType == typeof(TClient)))
        {
            return;
        }

        services
            .AddGrpcClient<TClient>((provider, factory) =>
                factory.Address = Settings(provider).AddressOf(service))
            .ConfigureChannel((provider, channel) =>
            {
                var settings = Settings(provider);
                channel.ServiceConfig = OversightRetryPolicy.ServiceConfig(settings.Retry);
                channel.MaxRetryAttempts = Math.Max(settings.Retry.MaxAttempts, 1);
                // Bearer tokens over plain text: the options allow it for loopback (the embedded
                // default) and, when AllowInsecureTransport is set, inside an encrypting network.
                channel.UnsafeUseInsecureChannelCallCredentials = settings.AddressOf(service)?.Scheme == Uri.UriSchemeHttp;
            })
            .AddCallCredentials(async (context, metadata, provider) =>
            {
                var token = await provider.GetRequiredService<IOversightTokenProvider>().GetTokenAsync(context.CancellationToken).ConfigureAwait(false);
                if (!string.IsNullOrEmpty(token))
                {
                    metadata.Add("Authorization", $"Bearer {token}");
                }
            })
            .AddInterceptor<OversightCallInterceptor>(InterceptorScope.Client);
    }

    // Reading the options validates them: a bad setting fails the first call with a message naming the key.
    private static OversightClientOptions Settings(IServiceProvider provider) =>
        provider.GetRequiredService<IOptions<OversightClientOptions>>().Value;
}
