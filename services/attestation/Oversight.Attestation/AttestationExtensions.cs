using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Hosting;
using Oversight.Hosting.Data;
using Oversight.Attestation.Data;

namespace Oversight.Attestation;

public static class AttestationExtensions
{
    public const string ServiceName = "Attestation";

    /// <summary>Adds the workload-attestation service: its database, gRPC service and consumers.</summary>
    public static WebApplicationBuilder AddAttestation(this WebApplicationBuilder builder)
    {
        builder.AddOversightDatabase<AttestationDbContext>(ServiceName);
        builder.Services.AddGrpcHealthName(V1.WorkloadAttestation.Descriptor.FullName);
        return builder;
    }

    public static WebApplication MapAttestation(this WebApplication app)
    {
        app.MapGrpcService<WorkloadAttestationService>();
        return app;
    }
}
