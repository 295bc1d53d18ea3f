using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Oversight.Attestation.Data;
using Oversight.Attestation.Ingest;
using Oversight.Hosting;
using Oversight.Hosting.Data;
using Oversight.Hosting.Outbox;
using Oversight.Policy.Accelerators;

namespace Oversight.Attestation;

public static class AttestationExtensions
{
    public const string ServiceName = "Attestation";

    /// <summary>Adds the workload-attestation service: its options, database, outbox publisher and gRPC service.</summary>
    public static WebApplicationBuilder AddAttestation(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<AttestationOptions>()
            .BindConfiguration(AttestationOptions.Section)
            .Validate(o => !string.IsNullOrWhiteSpace(o.AppraisalPolicyVersion), $"{AttestationOptions.Section}:AppraisalPolicyVersion is required: receipts name it.")
            .Validate(o => o.MaxClockSkew >= TimeSpan.Zero && o.MaxClockSkew <= TimeSpan.FromHours(1), $"{AttestationOptions.Section}:MaxClockSkew must be between 0 and 1 hour.")
            .Validate(o => o.MaxAge > o.MaxClockSkew, $"{AttestationOptions.Section}:MaxAge must be longer than MaxClockSkew.")
            .Validate(o => o.MaxIntervalDuration > TimeSpan.Zero, $"{AttestationOptions.Section}:MaxIntervalDuration must be positive.")
            .Validate(o => o.UtilisationCeiling is > 0 and <= 1, $"{AttestationOptions.Section}:UtilisationCeiling must be above 0 and at most 1.")
            .Validate(o => o.DefaultKeyRotationOverlap >= TimeSpan.Zero, $"{AttestationOptions.Section}:DefaultKeyRotationOverlap must not be negative.")
            .Validate(o => o.ExportPageSize is > 0 and <= 10_000, $"{AttestationOptions.Section}:ExportPageSize must be 1-10000.")
            .Validate(o => o.AcceleratorCatalogueFile is null || File.Exists(o.AcceleratorCatalogueFile), $"{AttestationOptions.Section}:AcceleratorCatalogueFile names a file that does not exist.")
            .ValidateOnStart();

        // The shipped catalogue, extended by the operator's file when one is configured.
        builder.Services.AddSingleton(services =>
        {
            var file = services.GetRequiredService<IOptions<AttestationOptions>>().Value.AcceleratorCatalogueFile;
            return string.IsNullOrEmpty(file) ? AcceleratorCatalogue.Default : AcceleratorCatalogue.Default.WithAdditions(File.ReadAllText(file));
        });

        builder.AddOversightDatabase<AttestationDbContext>(ServiceName);
        builder.Services.AddOutboxPublisher<AttestationDbContext>();
        builder.Services.AddSingleton<AttestationMetrics>();
        builder.Services.AddScoped<AttestationIngest>();
        builder.Services.AddGrpcHealthName(V1.WorkloadAttestation.Descriptor.FullName);
        return builder;
    }

    public static WebApplication MapAttestation(this WebApplication app)
    {
        app.MapGrpcService<WorkloadAttestationService>();
        return app;
    }
}
