using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Oversight.Hosting.Data;

/// <summary>
/// Applies a database's pending migrations so that concurrent runs (two pods' hook Jobs, a Job
/// and its retry, replicas with MigrateOnStart) apply them one run after another.
/// </summary>
/// <remarks>
/// EF Core's own migration lock (EF Core 9+; on PostgreSQL
/// <c>LOCK TABLE "__EFMigrationsHistory" IN ACCESS EXCLUSIVE MODE</c>) is taken inside each
/// migration's transaction, so it is released between two migrations and the history is not
/// read again: on a database with several pending migrations a second run could apply the next
/// one in that gap, and the first then failed with "relation ... already exists" (seen with EF
/// Core 10 and Npgsql 10). On PostgreSQL the whole run therefore holds a session advisory lock
/// on a connection of its own: a second run waits for it, then finds nothing left to apply. The
/// server releases it if the process dies. SQLite's lock (a row in __EFMigrationsLock) already
/// spans the whole run. As with Migrate alone, a missing PostgreSQL database is created first.
/// </remarks>
internal static class SerializedMigrations
{
    /// <summary>The advisory lock's key ("OVSMIG" in ASCII); advisory locks are per database.</summary>
    private const long LockKey = 0x4F56534D4947;

    public static async Task MigrateAsync(DatabaseFacade database, string description, ILogger logger, CancellationToken cancellationToken = default)
    {
        if (!database.IsNpgsql())
        {
            await database.MigrateAsync(cancellationToken);
            return;
        }

        // As Migrate does: create the database when it is missing (and the role may), here
        // before the lock is taken on it. Of two runs creating it at once, one finds it exists.
        var creator = (IRelationalDatabaseCreator)database.GetService<IDatabaseCreator>();
        if (!await creator.ExistsAsync(cancellationToken))
        {
            try
            {
                await creator.CreateAsync(cancellationToken);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase)
            {
            }
        }

        var connectionString = new NpgsqlConnectionStringBuilder(database.GetConnectionString())
        {
            Pooling = false,
            // Waiting for another run is one command.
            CommandTimeout = database.GetCommandTimeout() ?? 30,
        };
        await using var connection = new NpgsqlConnection(connectionString.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        if (await SelectAsync(connection, "pg_try_advisory_lock", cancellationToken) is not true)
        {
            logger.LogInformation("Another run is migrating {Database}; waiting for it to finish.", description);
            await SelectAsync(connection, "pg_advisory_lock", cancellationToken);
        }

        try
        {
            // Npgsql's migrator reads the history before it creates the history table, which logs
            // a failed command on a fresh database; the table is created first instead.
            await database.GetService<IHistoryRepository>().CreateIfNotExistsAsync(cancellationToken);
            await database.MigrateAsync(cancellationToken);
        }
        finally
        {
            await SelectAsync(connection, "pg_advisory_unlock", CancellationToken.None);
        }
    }

    private static async Task<object?> SelectAsync(NpgsqlConnection connection, string function, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT {function}(@key)", connection);
        command.Parameters.AddWithValue("key", LockKey);
        return await command.ExecuteScalarAsync(cancellationToken);
    }
}
