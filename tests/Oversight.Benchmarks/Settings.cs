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

    public static Dictionary<string, string?> Merge(Dictionary<string, string?> common, Dictionary<string, string?> specific) =>
        common.Concat(specific).GroupBy(e => e.Key).ToDictionary(g => g.Key, g => g.Last().Value);
}
