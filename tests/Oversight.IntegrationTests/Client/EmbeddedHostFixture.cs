using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Oversight.IntegrationTests.Embedded;
using Xunit;

namespace Oversight.IntegrationTests.Client;

/// <summary>
/// One embedded default (the built `oversight` program) for a test class; each test works in a
/// marketplace of its own, so no test sees another's state.
/// </summary>
public sealed class EmbeddedHostFixture : IAsyncLifetime
{
    private EmbeddedProcess? _process;

    internal EmbeddedProcess Process => _process ?? throw new InvalidOperationException("The embedded program has not started.");

    public string GrpcAddress => $"http://127.0.0.1:{Process.GrpcPort}";

    public async Task InitializeAsync() => _process = await EmbeddedProcess.StartAsync();

    public async Task DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
    }

    public static string NewMarketplace(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..10]}";

    /// <summary>
    /// A dependency-injection container with the Oversight client, configured as an integrator
    /// configures it: the section Oversight:Client (here in memory) with the address and a token
    /// from the program's `token` command.
    /// </summary>
    public async Task<ServiceProvider> ClientAsync(string role, string marketplace, string? provider = null, IDictionary<string, string?>? settings = null)
    {
        var configuration = new Dictionary<string, string?>
        {
            ["Oversight:Client:Address"] = GrpcAddress,
            ["Oversight:Client:Token"] = await Process.CreateTokenAsync(role, marketplace, provider),
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }

        return new ServiceCollection()
            .AddOversightClient(new ConfigurationBuilder().AddInMemoryCollection(configuration).Build())
            .BuildServiceProvider();
    }
}
