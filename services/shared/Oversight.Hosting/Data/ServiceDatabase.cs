using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Oversight.Hosting.Data;

/// <summary>
/// One service's database: its DbContext and its configuration section
/// "Oversight:{ServiceName}:Database" (<see cref="DatabaseOptions"/>). The service adds it with
/// <see cref="DatabaseExtensions.AddOversightDatabase"/>; a host's <c>migrate</c> mode
/// (<see cref="MigrateCommand"/>) registers only the DbContext and applies its migrations.
/// </summary>
public abstract class ServiceDatabase
{
    private protected ServiceDatabase(string serviceName) => ServiceName = serviceName;

    /// <summary>The service's name in configuration keys: Kyc, Attestation, Enforcement.</summary>
    public string ServiceName { get; }

    public string Section => $"Oversight:{ServiceName}:Database";

    /// <summary>The DbContext type the service resolves.</summary>
    public abstract Type ContextType { get; }

    public static ServiceDatabase For<TContext>(string serviceName)
        where TContext : DbContext => new Of<TContext>(serviceName);

    /// <summary>
    /// Registers the DbContext on the configured provider (and nothing else) and returns the
    /// options it read. <paramref name="configure"/> adds to the DbContext's options.
    /// </summary>
    internal abstract DatabaseOptions AddContext(IServiceCollection services, IConfiguration configuration, Action<DbContextOptionsBuilder>? configure = null);

    /// <summary>The database's readiness check and, when configured, migrations at start.</summary>
    internal abstract void AddHealthCheckAndMigrateOnStart(IServiceCollection services, DatabaseOptions options);

    internal abstract DbContext GetContext(IServiceProvider services);

    private sealed class Of<TContext>(string serviceName) : ServiceDatabase(serviceName)
        where TContext : DbContext
    {
        public override Type ContextType => typeof(TContext);

        internal override DatabaseOptions AddContext(IServiceCollection services, IConfiguration configuration, Action<DbContextOptionsBuilder>? configure = null)
        {
            var options = configuration.GetSection(Section).Get<DatabaseOptions>() ?? new DatabaseOptions();
            var hosting = configuration.GetSection(HostingOptions.Section).Get<HostingOptions>() ?? new HostingOptions();
            var connectionString = ResolveConnectionString(options, hosting);
            // EF Core needs one migrations assembly per provider (a single migration set cannot
            // serve both), named "{context assembly}.Migrations.{Sqlite|Postgres}"; hosts reference both.
            var migrationsAssembly = $"{typeof(TContext).Assembly.GetName().Name}.Migrations.{options.Provider}";

            services.AddDbContext<TContext>(db =>
            {
                switch (options.Provider)
                {
                    case DatabaseProvider.Postgres:
                        db.UseNpgsql(connectionString, npgsql => npgsql.MigrationsAssembly(migrationsAssembly));
                        break;
                    default:
                        db.UseSqlite(connectionString, sqlite => sqlite.MigrationsAssembly(migrationsAssembly));
                        break;
                }

                // EF logs a failed command and a failed save at Error, then throws. Every caller
                // handles that exception: it retries a race (two writers inserting the same row, e.g.
                // an account copy from an event and from a KYC look-up at once) or fails the call,
                // and an unhandled failure is logged at Error where it ends. So EF's own lines are
                // Warnings: an expected race must not trip an operator's error-log alerts.
                db.ConfigureWarnings(warnings => warnings.Log(
                    (RelationalEventId.CommandError, LogLevel.Warning),
                    (CoreEventId.SaveChangesFailed, LogLevel.Warning)));
                configure?.Invoke(db);
            });
            return options;
        }

        internal override void AddHealthCheckAndMigrateOnStart(IServiceCollection services, DatabaseOptions options)
        {
            services.AddHealthChecks().AddDbContextCheck<TContext>($"{ServiceName.ToLowerInvariant()}-database", tags: [HealthTags.Ready]);
            if (options.MigrateOnStart)
            {
                services.AddHostedService<MigrateOnStart>();
            }
        }

        internal override DbContext GetContext(IServiceProvider services) => services.GetRequiredService<TContext>();

        private string ResolveConnectionString(DatabaseOptions options, HostingOptions hosting)
        {
            if (!string.IsNullOrWhiteSpace(options.ConnectionString))
            {
                return options.ConnectionString;
            }

            if (options.Provider == DatabaseProvider.Postgres)
            {
                throw new OptionsValidationException(Section, typeof(DatabaseOptions), [$"{Section}:ConnectionString is required for PostgreSQL."]);
            }

            SecretFile.CreatePrivateDirectory(hosting.DataDirectory);
            return $"Data Source={Path.Combine(hosting.DataDirectory, ServiceName.ToLowerInvariant() + ".db")}";
        }

        /// <summary>Applies migrations before the server starts listening (hosted services start first).</summary>
        private sealed class MigrateOnStart(IServiceScopeFactory scopes, ILogger<MigrateOnStart> logger) : IHostedService
        {
            public async Task StartAsync(CancellationToken cancellationToken)
            {
                await using var scope = scopes.CreateAsyncScope();
                var context = scope.ServiceProvider.GetRequiredService<TContext>();
                await SerializedMigrations.MigrateAsync(context.Database, typeof(TContext).Name, logger, cancellationToken);
            }

            public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        }
    }
}
