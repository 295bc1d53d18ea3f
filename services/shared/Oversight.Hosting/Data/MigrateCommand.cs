using System.Data.Common;
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Oversight.Hosting.Data;

/// <summary>
/// A host's migrate-and-exit mode (<c>&lt;host&gt; migrate</c>): applies the pending EF Core
/// migrations of the host's service databases, read from the same configuration keys as a
/// normal start (Oversight:{Service}:Database:Provider and ConnectionString), logs what it
/// applied, and exits 0; it exits 1, saying which database and why on standard error, when a
/// database is unreachable or a migration fails. It registers the DbContexts and nothing
/// else, and never starts the host: no Kestrel, bus, Redis or background service.
/// </summary>
/// <remarks>
/// Safe to run from several pods at once (the chart's hook Job on every upgrade, a retry, pods
/// with MigrateOnStart): runs on one database take turns (<see cref="SerializedMigrations"/>:
/// EF Core's own lock is released between migrations, so each run also holds a PostgreSQL
/// advisory lock), and a run that waited finds nothing left to apply.
/// </remarks>
public static class MigrateCommand
{
    public const string Name = "migrate";

    /// <summary>
    /// Command timeout while migrating: waiting for another run's lock is one command, and a
    /// long schema change outlasts the provider's 30 s default. The chart's Job deadline bounds
    /// the whole run.
    /// </summary>
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(10);

    private const string Usage = """
        usage: <host> migrate [--Oversight:<Service>:Database:<Key>=<value> ...]
          Applies the pending database migrations of this host's services and exits
          (0: up to date; 1: a database is unreachable or a migration failed).
          Configuration as for a normal start (appsettings, environment, command line):
            Oversight:<Service>:Database:Provider          Sqlite (default) or Postgres
            Oversight:<Service>:Database:ConnectionString  required for Postgres
        """;

    /// <param name="args">The arguments after <c>migrate</c>: configuration, as for a normal start.</param>
    /// <param name="databases">The host's service databases, migrated in this order.</param>
    public static async Task<int> RunAsync(string[] args, params ServiceDatabase[] databases)
    {
        if (args.Any(a => a is "-h" or "--help"))
        {
            Console.WriteLine(Usage);
            return 0;
        }

        // The web builder gives exactly the configuration sources and logging of a normal start;
        // the host is built but never started.
        var builder = WebApplication.CreateBuilder(args);
        var targets = new List<Target>();
        try
        {
            foreach (var database in databases)
            {
                var applied = new List<string>();
                // EF Core reports each migration it applies (MigrationApplying): only the run
                // that holds the lock sees these, so the log says what this run applied.
                var options = database.AddContext(builder.Services, builder.Configuration, db => db.LogTo(
                    (id, _) => id == RelationalEventId.MigrationApplying,
                    data =>
                    {
                        lock (applied)
                        {
                            applied.Add(MigrationId(((MigrationEventData)data).Migration));
                        }
                    }));
                targets.Add(new Target(database, options.Provider, applied));
            }
        }
        catch (OptionsValidationException e)
        {
            await Console.Error.WriteLineAsync($"migrate: {e.Message}");
            return 1;
        }

        await using var app = builder.Build();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MigrateCommand).FullName!);
        foreach (var target in targets)
        {
            if (!await MigrateAsync(target, app.Services, logger))
            {
                return 1;
            }
        }

        logger.LogInformation("Every database is up to date ({Services}).", string.Join(", ", databases.Select(d => d.ServiceName)));
        return 0;
    }

    private static async Task<bool> MigrateAsync(Target target, IServiceProvider services, ILogger logger)
    {
        var service = target.Database.ServiceName;
        await using var scope = services.CreateAsyncScope();
        var database = target.Database.GetContext(scope.ServiceProvider).Database;
        var where = Describe(target.Provider, database.GetConnectionString());
        try
        {
            logger.LogInformation("{Service}: migrating {Database}.", service, where);
            database.SetCommandTimeout(CommandTimeout);
            await SerializedMigrations.MigrateAsync(database, where, logger);
            var history = (await database.GetAppliedMigrationsAsync()).ToList();
            if (target.Applied.Count == 0)
            {
                logger.LogInformation("{Service}: nothing to apply; {Database} is up to date at {Latest} ({Count} in its history).",
                    service, where, history.LastOrDefault() ?? "(none)", history.Count);
            }
            else
            {
                logger.LogInformation("{Service}: applied {Applied} migration(s) to {Database}: {Migrations}; now at {Latest}.",
                    service, target.Applied.Count, where, string.Join(", ", target.Applied), history.LastOrDefault());
            }

            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "{Service}: migrating {Database} failed.", service, where);
            await Console.Error.WriteLineAsync(
                $"migrate: {service}: {where} is unreachable or a migration failed: {Reason(e)}");
            return false;
        }
    }

    private static string MigrationId(Migration migration) =>
        migration.GetType().GetCustomAttribute<MigrationAttribute>()?.Id ?? migration.GetType().Name;

    /// <summary>Where the migrations go, without credentials.</summary>
    private static string Describe(DatabaseProvider provider, string? connectionString)
    {
        if (provider == DatabaseProvider.Postgres)
        {
            var postgres = new NpgsqlConnectionStringBuilder(connectionString);
            return $"PostgreSQL database '{postgres.Database}' on {postgres.Host}:{postgres.Port}";
        }

        return $"SQLite file '{new SqliteConnectionStringBuilder(connectionString).DataSource}'";
    }

    /// <summary>
    /// The messages of an exception and its causes, outermost first, from the database error
    /// on (EF Core wraps connection failures in a generic "transient failure" exception).
    /// </summary>
    private static string Reason(Exception e)
    {
        var messages = new List<string>();
        var first = e;
        for (Exception? cause = e; cause is not null; cause = cause.InnerException)
        {
            if (cause is DbException)
            {
                first = cause;
                break;
            }
        }

        for (Exception? cause = first; cause is not null; cause = cause.InnerException)
        {
            var message = cause.Message.Trim().TrimEnd('.');
            if (!messages.Any(m => m.Contains(message, StringComparison.Ordinal)))
            {
                messages.Add(message);
            }
        }

        return string.Join(": ", messages);
    }

    private sealed record Target(ServiceDatabase Database, DatabaseProvider Provider, List<string> Applied);
}
