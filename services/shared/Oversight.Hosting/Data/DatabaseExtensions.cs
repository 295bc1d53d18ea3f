using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Oversight.Hosting.Data;

public static class DatabaseExtensions
{
    /// <summary>
    /// Registers a service's DbContext on PostgreSQL or SQLite. EF Core needs one migrations
    /// assembly per provider (a single migration set cannot serve both), named
    /// "{context assembly}.Migrations.{Sqlite|Postgres}"; the host references both.
    /// </summary>
    public static WebApplicationBuilder AddOversightDatabase<TContext>(this WebApplicationBuilder builder, string serviceName)
        where TContext : DbContext
    {
        var section = $"Oversight:{serviceName}:Database";
        var options = builder.Configuration.GetSection(section).Get<DatabaseOptions>() ?? new DatabaseOptions();
        var hosting = builder.Configuration.GetSection(HostingOptions.Section).Get<HostingOptions>() ?? new HostingOptions();
        var connectionString = ResolveConnectionString(options, hosting, serviceName, section);
        var migrationsAssembly = $"{typeof(TContext).Assembly.GetName().Name}.Migrations.{options.Provider}";

        builder.Services.AddDbContext<TContext>(db =>
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
        });
        builder.Services.AddHealthChecks().AddDbContextCheck<TContext>($"{serviceName.ToLowerInvariant()}-database", tags: [HealthTags.Ready]);
        if (options.MigrateOnStart)
        {
            builder.Services.AddHostedService<MigrateOnStart<TContext>>();
        }

        return builder;
    }

    private static string ResolveConnectionString(DatabaseOptions options, HostingOptions hosting, string serviceName, string section)
    {
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            return options.ConnectionString;
        }

        if (options.Provider == DatabaseProvider.Postgres)
        {
            throw new OptionsValidationException(section, typeof(DatabaseOptions), [$"{section}:ConnectionString is required for PostgreSQL."]);
        }

        Directory.CreateDirectory(hosting.DataDirectory);
        return $"Data Source={Path.Combine(hosting.DataDirectory, serviceName.ToLowerInvariant() + ".db")}";
    }

    /// <summary>Applies migrations before the server starts listening (hosted services start first).</summary>
    private sealed class MigrateOnStart<TContext>(IServiceScopeFactory scopes) : IHostedService
        where TContext : DbContext
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            await using var scope = scopes.CreateAsyncScope();
            var context = scope.ServiceProvider.GetRequiredService<TContext>();
            await context.Database.MigrateAsync(cancellationToken);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

public static class HealthTags
{
    /// <summary>Checks that readiness (and grpc.health.v1) cover: database, Redis, bus.</summary>
    public const string Ready = "ready";
}
