using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Oversight.Attestation.Data;
using Oversight.Attestation.Ingest;
using Oversight.Attestation.Log;
using Oversight.Hosting;
using Oversight.Hosting.Data;
using Oversight.Hosting.Outbox;
using Oversight.Policy.Accelerators;

namespace Oversight.Attestation;

public static class AttestationExtensions
{
    public const string ServiceName = "Attestation";

    /// <summary>This service's database (section "Oversight:Attestation:Database"), for AddOversightDatabase and the hosts' <c>migrate</c> mode.</summary>
    public static ServiceDatabase Database { get; } = ServiceDatabase.For<AttestationDbContext>(ServiceName);

    /// <summary>The log's origin in Development when none is configured.</summary>
    public const string DevelopmentOrigin = "localhost/oversight-attestation";

    /// <summary>Adds the workload-attestation service: its options, database, outbox publisher and gRPC service.</summary>
    public static WebApplicationBuilder AddAttestation(this WebApplicationBuilder builder)
    {
        var isDevelopment = builder.Environment.IsDevelopment();
        var hosting = builder.Configuration.GetSection(HostingOptions.Section).Get<HostingOptions>() ?? new HostingOptions();
        builder.Services.AddOptions<AttestationOptions>()
            .BindConfiguration(AttestationOptions.Section)
            .PostConfigure(o =>
            {
                // Development makes its own checkpoint key and keeps it in the data folder; any
                // other environment must configure one (validated below).
                if (isDevelopment && string.IsNullOrWhiteSpace(o.CheckpointSigningKey))
                {
                    o.CheckpointSigningKey = DevelopmentCheckpointKey.LoadOrCreate(hosting.DataDirectory);
                }

                if (isDevelopment && string.IsNullOrWhiteSpace(o.CheckpointOrigin))
                {
                    o.CheckpointOrigin = DevelopmentOrigin;
                }
            })
            .Validate(o => !string.IsNullOrWhiteSpace(o.AppraisalPolicyVersion), $"{AttestationOptions.Section}:AppraisalPolicyVersion is required: receipts name it.")
            .Validate(o => o.MaxClockSkew >= TimeSpan.Zero && o.MaxClockSkew <= TimeSpan.FromHours(1), $"{AttestationOptions.Section}:MaxClockSkew must be between 0 and 1 hour.")
            .Validate(o => o.MaxAge > o.MaxClockSkew, $"{AttestationOptions.Section}:MaxAge must be longer than MaxClockSkew.")
            .Validate(o => o.MaxIntervalDuration > TimeSpan.Zero, $"{AttestationOptions.Section}:MaxIntervalDuration must be positive.")
            .Validate(o => o.UtilisationCeiling is > 0 and <= 1, $"{AttestationOptions.Section}:UtilisationCeiling must be above 0 and at most 1.")
            .Validate(o => o.DefaultKeyRotationOverlap >= TimeSpan.Zero, $"{AttestationOptions.Section}:DefaultKeyRotationOverlap must not be negative.")
            .Validate(o => o.ExportPageSize is > 0 and <= 10_000, $"{AttestationOptions.Section}:ExportPageSize must be 1-10000.")
            .Validate(o => o.AcceleratorCatalogueFile is null || File.Exists(o.AcceleratorCatalogueFile), $"{AttestationOptions.Section}:AcceleratorCatalogueFile names a file that does not exist.")
            .Validate(o => o.StreamBatchSize is > 0 and <= 5000, $"{AttestationOptions.Section}:StreamBatchSize must be 1-5000.")
            .Validate(o => o.VerificationParallelism is > 0 and <= 256, $"{AttestationOptions.Section}:VerificationParallelism must be 1-256.")
            .Validate(o => IsOrigin(o.CheckpointOrigin),
                $"{AttestationOptions.Section}:CheckpointOrigin is required outside Development: the log's identity on every checkpoint, a schema-less URL such as oversight.example.org/attestation-log (no spaces, no '+').")
            .Validate(o => CheckpointKeyError(o.CheckpointSigningKey) is null,
                $"{AttestationOptions.Section}:CheckpointSigningKey is required outside Development: a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----) of an ECDSA P-256 key that signs the log's checkpoints.")
            .ValidateOnStart();

        // The shipped catalogue, extended by the operator's file when one is configured.
        builder.Services.AddSingleton(services =>
        {
            var file = services.GetRequiredService<IOptions<AttestationOptions>>().Value.AcceleratorCatalogueFile;
            return string.IsNullOrEmpty(file) ? AcceleratorCatalogue.Default : AcceleratorCatalogue.Default.WithAdditions(File.ReadAllText(file));
        });

        builder.AddOversightDatabase(Database);
        builder.Services.AddOutboxPublisher<AttestationDbContext>();
        builder.Services.AddSingleton<AttestationMetrics>();
        builder.Services.AddScoped<AttestationIngest>();
        builder.Services.AddSingleton<AttestationStream>();
        builder.Services.AddSingleton<CheckpointSigner>();
        builder.Services.AddScoped<LogStore>();
        builder.Services.AddScoped<LogRecovery>();
        // After AddOversightDatabase: hosted services start in order, so the migrations run first.
        builder.Services.AddHostedService<LogRecoveryOnStart>();
        builder.Services.AddGrpcHealthName(V1.WorkloadAttestation.Descriptor.FullName);
        return builder;
    }

    private static bool IsOrigin(string? origin) =>
        !string.IsNullOrWhiteSpace(origin) && origin.Length <= 256 && !origin.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c == '+');

    private static string? CheckpointKeyError(string? pem)
    {
        using var key = CheckpointSigner.ImportPrivateKey(pem, out var error);
        return key is null ? error : null;
    }

    public static WebApplication MapAttestation(this WebApplication app)
    {
        app.MapGrpcService<WorkloadAttestationService>();
        return app;
    }
}
