using System.Net;
using Grpc.AspNetCore.HealthChecks;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Oversight.Hosting.Auth;
using Oversight.Hosting.Clock;
using Oversight.Hosting.Data;

namespace Oversight.Hosting;

/// <summary>What every Oversight host shares: ports, gRPC, health, auth, clock, telemetry.</summary>
public static class HostingExtensions
{
    /// <summary>Meter and activity source names of the Oversight services.</summary>
    public const string TelemetryPrefix = "Oversight.";

    public static WebApplicationBuilder AddOversightDefaults(this WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var hosting = configuration.GetSection(HostingOptions.Section).Get<HostingOptions>() ?? new HostingOptions();
        builder.Services.AddOptions<HostingOptions>().BindConfiguration(HostingOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            Listen(kestrel, hosting.BindAddress, hosting.GrpcPort, HttpProtocols.Http2);
            Listen(kestrel, hosting.BindAddress, hosting.HealthPort, HttpProtocols.Http1);
        });

        AddClock(builder);
        AddAuthentication(builder, hosting);

        builder.Services.AddSingleton<GrpcServerMetrics>();
        builder.Services.AddGrpc(grpc =>
        {
            grpc.EnableDetailedErrors = builder.Environment.IsDevelopment();
            grpc.Interceptors.Add<GrpcServerMetrics>();
        });
        builder.Services.AddGrpcReflection();
        builder.Services.AddHealthChecks();
        builder.Services.AddGrpcHealthChecks(health =>
            health.Services.Map("", result => result.Tags.Contains(HealthTags.Ready)));

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => NameService(resource, builder.Environment.ApplicationName))
            .WithMetrics(metrics => metrics.AddAspNetCoreInstrumentation().AddMeter(TelemetryPrefix + "*").AddPrometheusExporter().AddOtlpExporterWhenConfigured(configuration))
            .WithTracing(tracing => tracing.AddAspNetCoreInstrumentation().AddSource(TelemetryPrefix + "*", "MassTransit").AddOtlpExporterWhenConfigured(configuration));
        return builder;
    }

    /// <summary>
    /// service.name of metrics and traces (without it, "unknown_service:..."): oversight-kyc,
    /// oversight-attestation, oversight-enforcement, or oversight for the all-in-one host, from the
    /// host's assembly name. What an operator sets the standard way (OTEL_SERVICE_NAME, or
    /// service.name in OTEL_RESOURCE_ATTRIBUTES, as environment or configuration) is read after it, and wins.
    /// </summary>
    private static void NameService(ResourceBuilder resource, string applicationName)
    {
        var name = applicationName.ToLowerInvariant();
        if (name.StartsWith("oversight.", StringComparison.Ordinal) && name.EndsWith(".host", StringComparison.Ordinal))
        {
            name = "oversight-" + name["oversight.".Length..^".host".Length];
        }

        resource.AddService(name).AddEnvironmentVariableDetector();
    }

    /// <summary>Maps grpc.health.v1 for a service name, answering from the readiness checks.</summary>
    public static IServiceCollection AddGrpcHealthName(this IServiceCollection services, string grpcServiceName) =>
        services.Configure<GrpcHealthChecksOptions>(health =>
            health.Services.Map(grpcServiceName, result => result.Tags.Contains(HealthTags.Ready)));

    public static WebApplication MapOversightDefaults(this WebApplication app)
    {
        app.UseAuthentication();
        app.UseAuthorization();

        // Health and reflection need no token (DESIGN.md, Security).
        app.MapGrpcHealthChecksService().AllowAnonymous();
        app.MapGrpcReflectionService().AllowAnonymous();
        app.MapGrpcService<SimulationClockService>();

        app.MapHealthChecks("/healthz/live", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/healthz/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains(HealthTags.Ready) }).AllowAnonymous();
        app.MapPrometheusScrapingEndpoint("/metrics").AllowAnonymous();
        return app;
    }

    private static void Listen(KestrelServerOptions kestrel, string address, int port, HttpProtocols protocols)
    {
        if (IPAddress.TryParse(address, out var ip))
        {
            kestrel.Listen(ip, port, listen => listen.Protocols = protocols);
        }
        else
        {
            kestrel.ListenLocalhost(port, listen => listen.Protocols = protocols);
        }
    }

    private static void AddClock(WebApplicationBuilder builder)
    {
        var simulation = builder.Configuration.GetSection(SimulationOptions.Section).Get<SimulationOptions>() ?? new SimulationOptions();
        if (!simulation.Enabled)
        {
            builder.Services.AddSingleton(TimeProvider.System);
            return;
        }

        if (builder.Environment.IsProduction())
        {
            throw new OptionsValidationException(SimulationOptions.Section, typeof(SimulationOptions),
                ["Oversight:Simulation:Enabled is refused in Production: a settable clock would let an admin rewrite every window."]);
        }

        var clock = new SimulatedTimeProvider(simulation.StartAt ?? DateTimeOffset.UtcNow);
        builder.Services.AddSingleton(clock);
        builder.Services.AddSingleton<TimeProvider>(clock);
    }

    private static void AddAuthentication(WebApplicationBuilder builder, HostingOptions hosting)
    {
        var auth = builder.Configuration.GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new AuthOptions();
        DevelopmentSigningKey? developmentKey = null;
        if (auth.UseDevelopmentKey)
        {
            if (builder.Environment.IsProduction())
            {
                throw new OptionsValidationException(AuthOptions.Section, typeof(AuthOptions),
                    ["Oversight:Auth:UseDevelopmentKey is refused in Production: configure Oversight:Auth:Authority or Oversight:Auth:SigningKeysJwks."]);
            }

            developmentKey = DevelopmentSigningKey.LoadOrCreate(hosting.DataDirectory);
            builder.Services.AddSingleton(developmentKey);
        }
        else if (string.IsNullOrWhiteSpace(auth.Authority) && string.IsNullOrWhiteSpace(auth.SigningKeysJwks))
        {
            throw new OptionsValidationException(AuthOptions.Section, typeof(AuthOptions),
                ["No token validation keys: set Oversight:Auth:Authority or Oversight:Auth:SigningKeysJwks (or Oversight:Auth:UseDevelopmentKey=true outside Production)."]);
        }

        builder.Services.AddSingleton(Options.Create(auth));
        builder.Services.AddSingleton<ServiceTokenSource>();
        builder.Services
            .AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer(jwt =>
            {
                jwt.MapInboundClaims = false;
                jwt.Events = new JwtBearerEvents { OnChallenge = GrpcChallenge.OnChallenge };
                jwt.Authority = developmentKey is null ? auth.Authority : null;
                jwt.RequireHttpsMetadata = !builder.Environment.IsDevelopment();
                jwt.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = developmentKey is null ? auth.Issuer : DevelopmentSigningKey.Issuer,
                    ValidateIssuer = developmentKey is not null || !string.IsNullOrEmpty(auth.Issuer),
                    ValidAudience = auth.Audience,
                    ValidateAudience = true,
                    ValidateLifetime = true,
                    RequireExpirationTime = true,
                    ClockSkew = TimeSpan.FromSeconds(auth.ClockSkewSeconds),
                    RoleClaimType = OversightClaims.Role,
                    NameClaimType = OversightClaims.Subject,
                    IssuerSigningKeys = developmentKey is not null
                        ? [developmentKey.Key]
                        : string.IsNullOrWhiteSpace(auth.SigningKeysJwks) ? null : new JsonWebKeySet(auth.SigningKeysJwks).GetSigningKeys(),
                };
            });
        builder.Services.AddAuthorization();
    }

    private static MeterProviderBuilder AddOtlpExporterWhenConfigured(this MeterProviderBuilder metrics, IConfiguration configuration) =>
        string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]) ? metrics : metrics.AddOtlpExporter();

    private static TracerProviderBuilder AddOtlpExporterWhenConfigured(this TracerProviderBuilder tracing, IConfiguration configuration) =>
        string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]) ? tracing : tracing.AddOtlpExporter();
}
