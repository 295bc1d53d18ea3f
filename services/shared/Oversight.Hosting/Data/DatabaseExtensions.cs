using Microsoft.AspNetCore.Builder;

namespace Oversight.Hosting.Data;

public static class DatabaseExtensions
{
    /// <summary>
    /// Registers a service's DbContext on PostgreSQL or SQLite (section
    /// "Oversight:{Service}:Database"), its readiness check, and migrations at start unless
    /// MigrateOnStart is false (then a host's <c>migrate</c> mode applies them: <see cref="MigrateCommand"/>).
    /// </summary>
    public static WebApplicationBuilder AddOversightDatabase(this WebApplicationBuilder builder, ServiceDatabase database)
    {
        var options = database.AddContext(builder.Services, builder.Configuration);
        database.AddHealthCheckAndMigrateOnStart(builder.Services, options);
        return builder;
    }
}

public static class HealthTags
{
    /// <summary>Checks that readiness (and grpc.health.v1) cover: database, Redis, bus.</summary>
    public const string Ready = "ready";
}
