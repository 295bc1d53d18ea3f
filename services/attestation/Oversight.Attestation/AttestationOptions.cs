namespace Oversight.Attestation;

/// <summary>The verifier's appraisal settings. Section "Oversight:Attestation".</summary>
public sealed class AttestationOptions
{
    public const string Section = "Oversight:Attestation";

    /// <summary>Named in every receipt, so a result can be traced to the rules that produced it (RATS).</summary>
    public string AppraisalPolicyVersion { get; set; } = "appraisal-2026-11";

    /// <summary>How far interval_end and signed_at may lie ahead of this service's clock.</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Oldest interval_end accepted: later usage must not reopen windows long closed.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Longest interval one attestation may cover; long leases attest periodically.</summary>
    public TimeSpan MaxIntervalDuration { get; set; } = TimeSpan.FromDays(31);

    /// <summary>Implied utilisation above which an attestation is FLAGGED (stored and counted, and reviewed).</summary>
    public double UtilisationCeiling { get; set; } = 0.7;

    /// <summary>How long the current keys stay valid after a rotation when the request gives no overlap.</summary>
    public TimeSpan DefaultKeyRotationOverlap { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Optional operator catalogue file (YAML or JSON) added to the catalogue shipped with the policy core.</summary>
    public string? AcceleratorCatalogueFile { get; set; }

    /// <summary>Rows read per database round trip while exporting.</summary>
    public int ExportPageSize { get; set; } = 500;
}
