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

    /// <summary>
    /// PKCS#8 PEM of the ECDSA P-256 private key that signs checkpoints. Required outside
    /// Development; in Development a key is made once and kept in the data folder.
    /// </summary>
    public string? CheckpointSigningKey { get; set; }

    /// <summary>
    /// The log's identity: the first line of every checkpoint and the key name of its signature
    /// line, a schema-less URL such as <c>oversight.example.org/attestation-log</c>. Required
    /// outside Development.
    /// </summary>
    public string? CheckpointOrigin { get; set; }

    /// <summary>Most attestations one streaming call verifies and stores together (one transaction).</summary>
    public int StreamBatchSize { get; set; } = 200;

    /// <summary>Signature checks run at once while a batch is verified (default: the processor count).</summary>
    public int VerificationParallelism { get; set; } = Environment.ProcessorCount;

    /// <summary>
    /// At start the log's state is always checked against the ledger in O(log n) (size, and the
    /// frontier against the stored subtrees and leaves) and rebuilt when they differ. Full also
    /// recomputes every leaf hash and the root from the ledger's bytes: O(n).
    /// </summary>
    public LogStartupCheck LogStartupCheck { get; set; } = LogStartupCheck.Quick;
}

public enum LogStartupCheck
{
    Quick,
    Full,
}
