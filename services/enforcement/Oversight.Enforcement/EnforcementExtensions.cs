using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Hosting;
using Oversight.Hosting.Data;
using Oversight.Enforcement.Data;

namespace Oversight.Enforcement;

public static class EnforcementExtensions
{
    public const string ServiceName = "Enforcement";

    /// <summary>Adds the threshold-enforcement service: its database, gRPC service and consumers.</summary>
    public static WebApplicationBuilder AddEnforcement(this WebApplicationBuilder builder)
    {
        builder.AddOversightDatabase<EnforcementDbContext>(ServiceName);
        builder.Services.AddGrpcHealthName(V1.ThresholdEnforcement.Descriptor.FullName);
        return builder;
    }

    public static WebApplication MapEnforcement(this WebApplication app)
    {
        app.MapGrpcService<ThresholdEnforcementService>();
        return app;
    }
}
