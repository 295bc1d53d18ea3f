using Oversight.Testing;

namespace Oversight.Benchmarks;

/// <summary>The hosts' configuration: servers from the test environment variables, or embedded stand-ins.</summary>
internal static class Settings
{
    public static async Task<(Dictionary<string, string?> Common, Dictionary<string, string?> Kyc, Dictionary<string, string?> Attestation, Dictionary<string, string?> Enforcement, string Servers)> ForAsync(string data)
    {
        var common = new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Oversight"] = "Warning",
            ["Logging:LogLevel:Microsoft.EntityFrameworkCore"] = "Error",
        };
        var kyc = new Dictionary<string, string?>();
        var attestation = new Dictionary<string, string?>();
        var enforcement = new Dictionary<string, string?>();
        string servers;
        if (Environment.GetEnvironmentVariable(TestServers.PostgresEnv) is { Length: > 0 })
        {
            kyc["Oversight:Kyc:Database:Provider"] = "Postgres";
            kyc["Oversight:Kyc:Database:ConnectionString"] = await TestServers.CreatePostgresDatabaseAsync("kyc_bench");
            attestation["Oversight:Attestation:Database:Provider"] = "Postgres";
            attestation["Oversight:Attestation:Database:ConnectionString"] = await TestServers.CreatePostgresDatabaseAsync("attestation_bench");
            enforcement["Oversight:Enforcement:Database:Provider"] = "Postgres";
            enforcement["Oversight:Enforcement:Database:ConnectionString"] = await TestServers.CreatePostgresDatabaseAsync("enforcement_bench");
            servers = $"PostgreSQL ({TestServers.PostgresEnv})";
        }
        else
        {
            kyc["Oversight:Kyc:Database:Provider"] = "Sqlite";
            attestation["Oversight:Attestation:Database:Provider"] = "Sqlite";
            enforcement["Oversight:Enforcement:Database:Provider"] = "Sqlite";
            servers = $"SQLite in {data}";
        }

        if (Environment.GetEnvironmentVariable(TestServers.RabbitMqEnv) is { Length: > 0 })
        {
            common["Oversight:Bus:Transport"] = "RabbitMq";
            common["Oversight:Bus:RabbitMqUri"] = (await TestServers.GetRabbitMqUriAsync()).ToString();
            common["Oversight:Bus:EndpointPrefix"] = TestServers.UniqueId("bench");
            servers += $", RabbitMQ ({TestServers.RabbitMqEnv})";
        }
        else
        {
            servers += ", in-memory bus per host";
        }

        if (Environment.GetEnvironmentVariable(TestServers.RedisEnv) is { Length: > 0 })
        {
            var redis = await TestServers.GetRedisConfigurationAsync();
            enforcement["Oversight:Enforcement:RedisConfiguration"] = redis;
            kyc["Oversight:Kyc:Redis:Configuration"] = redis;
        }

        return (common, kyc, attestation, enforcement, servers);
    }

    /// <summary>Waits until the host's readiness endpoint answers 200 (database, Redis, bus connected).</summary>
    public static async Task WaitUntilReadyAsync(ServiceHost host)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            try
            {
                using var response = await http.GetAsync($"http://127.0.0.1:{host.HealthPort}/healthz/ready");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not listening yet
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{host.GrpcAddress} is not ready after 120 s.");
            }

            await Task.Delay(200);
        }
    }

    public static Dictionary<string, string?> Merge(Dictionary<string, string?> common, Dictionary<string, string?> specific) =>
        common.Concat(specific).GroupBy(e => e.Key).ToDictionary(g => g.Key, g => g.Last().Value);
}
