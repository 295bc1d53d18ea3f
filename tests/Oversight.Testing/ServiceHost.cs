using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Oversight.Hosting;
using Oversight.Hosting.Auth;
using Oversight.Hosting.Bus;

namespace Oversight.Testing;

/// <summary>
/// One Oversight host started in the test process exactly as its Program does (shared
/// defaults, the service's AddX/MapX, the bus), listening with Kestrel on free loopback
/// ports: tests talk to it over real gRPC, like a marketplace would.
/// </summary>
public sealed class ServiceHost : IAsyncDisposable
{
    private ServiceHost(WebApplication app, int grpcPort, int healthPort, string dataDirectory)
    {
        App = app;
        GrpcPort = grpcPort;
        HealthPort = healthPort;
        DataDirectory = dataDirectory;
        Channel = GrpcChannel.ForAddress(GrpcAddress, new GrpcChannelOptions { MaxRetryAttempts = 0 });
    }

    public WebApplication App { get; }
    public IServiceProvider Services => App.Services;
    public int GrpcPort { get; }
    public int HealthPort { get; }
    public string DataDirectory { get; }
    public string GrpcAddress => $"http://127.0.0.1:{GrpcPort}";
    public GrpcChannel Channel { get; }

    /// <param name="settings">Configuration on top of the test defaults (Development, dev token key in <paramref name="dataDirectory"/>).</param>
    /// <param name="add">The service's AddX (several for an all-in-one host).</param>
    /// <param name="map">The service's MapX.</param>
    /// <param name="dataDirectory">Share one folder between hosts so that their development token keys agree.</param>
    /// <param name="ports">The ports of a host this one replaces (a restart: clients' channels reach the new host).</param>
    public static async Task<ServiceHost> StartAsync(
        IDictionary<string, string?> settings,
        Action<WebApplicationBuilder> add,
        Action<WebApplication> map,
        string dataDirectory,
        Action<IServiceCollection>? overrideServices = null,
        (int Grpc, int Health)? ports = null)
    {
        // Another test process can take a free port before Kestrel binds it: start again on new ones
        // (unless the test asked for given ports: a restart at the same address).
        for (var attempt = 1; ; attempt++)
        {
            var grpcPort = ports?.Grpc ?? FreePort();
            var healthPort = ports?.Health ?? FreePort();
            var app = Build(settings, add, map, dataDirectory, overrideServices, grpcPort, healthPort);
            try
            {
                await app.StartAsync();
                return new ServiceHost(app, grpcPort, healthPort, dataDirectory);
            }
            catch (Exception e) when (attempt < 5 && ports is null && LoopbackPorts.IsAddressInUse(e))
            {
                await app.StopAsync(); // hosted services that did start (the bus) stop before the retry
                await app.DisposeAsync();
            }
        }
    }

    private static WebApplication Build(
        IDictionary<string, string?> settings,
        Action<WebApplicationBuilder> add,
        Action<WebApplication> map,
        string dataDirectory,
        Action<IServiceCollection>? overrideServices,
        int grpcPort,
        int healthPort)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Development });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Oversight:Hosting:GrpcPort"] = grpcPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Oversight:Hosting:HealthPort"] = healthPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Oversight:Hosting:DataDirectory"] = dataDirectory,
            ["Oversight:Auth:UseDevelopmentKey"] = "true",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Oversight"] = "Information",
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders().AddSimpleConsole(console => console.SingleLine = true);
        builder.AddOversightDefaults();
        add(builder);
        builder.AddOversightBus();
        overrideServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.MapOversightDefaults();
        map(app);
        return app;
    }

    /// <summary>A development token for this host (and every host sharing its data folder).</summary>
    public string Token(string role, string? marketplace = null, string? provider = null, string? subject = null) =>
        DevelopmentSigningKey.LoadOrCreate(DataDirectory).CreateToken(
            "oversight", role, marketplace, provider, subject ?? $"test-{role}", TimeSpan.FromHours(1), DateTimeOffset.UtcNow);

    /// <summary>Call headers carrying a bearer token.</summary>
    public Metadata Auth(string role, string? marketplace = null, string? provider = null) =>
        new() { { "Authorization", $"Bearer {Token(role, marketplace, provider)}" } };

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }

    /// <summary>A loopback port for a service host (see <see cref="LoopbackPorts"/>).</summary>
    public static int FreePort() => LoopbackPorts.Free();
}
