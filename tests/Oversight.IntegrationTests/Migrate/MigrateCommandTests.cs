using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Oversight.Hosting.Data;
using Oversight.Testing;
using Xunit;

namespace Oversight.IntegrationTests.Migrate;

/// <summary>
/// The hosts' migrate mode (`&lt;host&gt; migrate`, what the chart's hook Job runs), as a
/// process against fresh databases: SQLite files and PostgreSQL databases of their own.
/// </summary>
public sealed class MigrateCommandTests
{
    public static TheoryData<string> Hosts => [.. MigrateHost.All.Keys];

    [Theory]
    [MemberData(nameof(Hosts))]
    public async Task Migrate_OnFreshSqliteFiles_CreatesEveryTable_AndASecondRunIsANoOp(string name)
    {
        var host = MigrateHost.All[name];
        var data = Directory.CreateTempSubdirectory("oversight-migrate-").FullName;
        var settings = new Dictionary<string, string?> { ["Oversight:Hosting:DataDirectory"] = data };
        var environment = Environment(settings);

        await AssertMigratesThenIsANoOpAsync(host, environment, settings);
    }

    [Fact]
    public async Task Migrate_AllInOne_OnFreshPostgresDatabases_CreatesEveryTable_StartsNothingElse_AndASecondRunIsANoOp()
    {
        var host = MigrateHost.All["allinone"];
        var settings = await PostgresSettingsAsync(host);
        // The enforcement database does not exist yet: migrate creates it, as EF Core's Migrate does.
        settings["Oversight:Enforcement:Database:ConnectionString"] = new NpgsqlConnectionStringBuilder(await TestServers.GetPostgresConnectionStringAsync())
        {
            Database = $"migrate_missing_{Guid.NewGuid():N}",
        }.ConnectionString;
        // Nothing but the databases is reachable, and the host's ports are taken: a migrate run
        // that started Kestrel, the bus or Redis would fail.
        using var grpcPort = Occupy();
        using var healthPort = Occupy();
        var environment = Environment(settings);
        environment["Oversight__Hosting__GrpcPort"] = Port(grpcPort).ToString(System.Globalization.CultureInfo.InvariantCulture);
        environment["Oversight__Hosting__HealthPort"] = Port(healthPort).ToString(System.Globalization.CultureInfo.InvariantCulture);
        environment["Oversight__Bus__Transport"] = "RabbitMq";
        environment["Oversight__Bus__RabbitMqUri"] = $"amqp://guest:guest@127.0.0.1:{ClosedPort()}/";
        environment["Oversight__Enforcement__RedisConfiguration"] = $"127.0.0.1:{ClosedPort()}";
        environment["Oversight__Kyc__Redis__Configuration"] = $"127.0.0.1:{ClosedPort()}";

        await AssertMigratesThenIsANoOpAsync(host, environment, settings);
    }

    [Fact]
    public async Task Migrate_ThreeRunsAtOnceOnFreshPostgresDatabases_AllSucceed_AndOneRunAppliesEachDatabase()
    {
        // Pods' hook Jobs, a retry, replicas with MigrateOnStart on one upgrade: the runs take
        // turns on each database, and the ones that waited find nothing to apply. (Without the
        // advisory lock, EF Core's own lock let a second run in between two migrations.)
        var host = MigrateHost.All["allinone"];
        var settings = await PostgresSettingsAsync(host);
        var environment = Environment(settings);

        var runs = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => host.RunAsync(environment)));

        var all = string.Join("\n====\n", runs.Select(r => r.ToString()));
        Assert.True(runs.All(r => r.ExitCode == 0), all);
        foreach (var database in host.Databases)
        {
            var history = await AssertMigratedAsync(database, settings);
            var applying = runs.Count(r => r.StdOut.Contains($"{database.ServiceName}: applied {history.Count} migration(s)", StringComparison.Ordinal));
            var idle = runs.Count(r => r.StdOut.Contains($"{database.ServiceName}: nothing to apply", StringComparison.Ordinal));
            Assert.True(applying == 1 && idle == 2, all);
        }
    }

    [Fact]
    public async Task Migrate_WhenPostgresIsUnreachable_ExitsNonZero_NamingTheDatabaseAndTheCause()
    {
        var port = ClosedPort();
        var environment = new Dictionary<string, string>
        {
            ["Oversight__Kyc__Database__Provider"] = "Postgres",
            ["Oversight__Kyc__Database__ConnectionString"] = $"Host=127.0.0.1;Port={port};Database=kyc;Username=oversight;Password=not-logged;Timeout=5",
        };

        var run = await MigrateHost.All["kyc"].RunAsync(environment);

        Assert.True(run.ExitCode != 0, run.ToString());
        Assert.Contains($"migrate: Kyc: PostgreSQL database 'kyc' on 127.0.0.1:{port} is unreachable or a migration failed: Failed to connect", run.StdErr);
        Assert.DoesNotContain("not-logged", run.StdOut + run.StdErr);
    }

    [Fact]
    public async Task Migrate_WithPostgresAndNoConnectionString_ExitsNonZero_NamingTheMissingKey()
    {
        var environment = new Dictionary<string, string> { ["Oversight__Enforcement__Database__Provider"] = "Postgres" };

        var run = await MigrateHost.All["enforcement"].RunAsync(environment);

        Assert.True(run.ExitCode != 0, run.ToString());
        Assert.Contains("Oversight:Enforcement:Database:ConnectionString is required for PostgreSQL", run.StdErr);
    }

    /// <summary>
    /// Opens the database as its service does (same configuration keys) and checks that every
    /// table of the service's model exists and no migration is pending. Returns the history.
    /// </summary>
    private static async Task<IReadOnlyList<string>> AssertMigratedAsync(ServiceDatabase database, IDictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Configuration.AddInMemoryCollection([new($"{database.Section}:MigrateOnStart", "false")]);
        builder.AddOversightDatabase(database);
        await using var app = builder.Build();
        await using var scope = app.Services.CreateAsyncScope();
        var context = (DbContext)scope.ServiceProvider.GetRequiredService(database.ContextType);

        var tablesSql = context.Database.IsNpgsql()
            ? "SELECT table_name AS \"Value\" FROM information_schema.tables WHERE table_schema = current_schema()"
            : "SELECT name AS \"Value\" FROM sqlite_master WHERE type = 'table'";
        var tables = await context.Database.SqlQueryRaw<string>(tablesSql).ToListAsync();
        var expected = context.Model.GetEntityTypes().Select(e => e.GetTableName()).OfType<string>().Distinct().Append("__EFMigrationsHistory").ToList();
        Assert.True(expected.Count > 2, $"{database.ServiceName}: only {expected.Count} tables in the model");
        Assert.All(expected, table => Assert.Contains(table, tables));

        Assert.Empty(await context.Database.GetPendingMigrationsAsync());
        var history = (await context.Database.GetAppliedMigrationsAsync()).ToList();
        Assert.Equal(context.Database.GetMigrations(), history);
        return history;
    }

    /// <summary>
    /// Runs migrate on fresh databases (exit 0, each database applied and complete), then again
    /// (exit 0, nothing applied, histories unchanged).
    /// </summary>
    private static async Task AssertMigratesThenIsANoOpAsync(MigrateHost host, Dictionary<string, string> environment, IDictionary<string, string?> settings)
    {
        var first = await host.RunAsync(environment);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.DoesNotContain("fail:", first.StdOut);
        var histories = new List<IReadOnlyList<string>>();
        foreach (var database in host.Databases)
        {
            Assert.Contains($"{database.ServiceName}: applied ", first.StdOut);
            histories.Add(await AssertMigratedAsync(database, settings));
        }

        var second = await host.RunAsync(environment);

        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.DoesNotContain("fail:", second.StdOut);
        Assert.DoesNotContain("applied ", second.StdOut);
        for (var i = 0; i < host.Databases.Count; i++)
        {
            Assert.Contains($"{host.Databases[i].ServiceName}: nothing to apply", second.StdOut);
            Assert.Equal(histories[i], await AssertMigratedAsync(host.Databases[i], settings));
        }
    }

    /// <summary>A fresh PostgreSQL database for each of the host's services.</summary>
    private static async Task<Dictionary<string, string?>> PostgresSettingsAsync(MigrateHost host)
    {
        var settings = new Dictionary<string, string?>();
        foreach (var database in host.Databases)
        {
            settings[$"{database.Section}:Provider"] = "Postgres";
            settings[$"{database.Section}:ConnectionString"] = await TestServers.CreatePostgresDatabaseAsync("migrate_" + database.ServiceName);
        }

        return settings;
    }

    private static Dictionary<string, string> Environment(IDictionary<string, string?> settings) =>
        settings.ToDictionary(s => s.Key.Replace(":", "__", StringComparison.Ordinal), s => s.Value ?? "");

    private static TcpListener Occupy()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return listener;
    }

    private static int Port(TcpListener listener) => ((IPEndPoint)listener.LocalEndpoint).Port;

    /// <summary>A loopback port nothing listens on (taken from the OS, then released).</summary>
    private static int ClosedPort()
    {
        using var listener = Occupy();
        return Port(listener);
    }
}
