namespace Oversight.Attestation.Data;

/// <summary>A provider host registered by its marketplace's operator.</summary>
public sealed class ProviderRecord
{
    public string MarketplaceId { get; set; } = "";
    public string ProviderId { get; set; } = "";
    public DateTimeOffset RegisteredAt { get; set; }

    /// <summary>Highest sequence number accepted so far (gaps are reported, reuse rejected).</summary>
    public long LastSequence { get; set; }

    /// <summary>Declared accelerators, JSON: [{"model":"H100-SXM","count":8}].</summary>
    public string InventoryJson { get; set; } = "[]";
}

/// <summary>An ECDSA P-256 key of a provider; rotation overlaps, revocation is forward-only.</summary>
public sealed class ProviderKeyRecord
{
    public string MarketplaceId { get; set; } = "";
    public string ProviderId { get; set; } = "";
    public string KeyId { get; set; } = "";
    public string PublicKeyPem { get; set; } = "";
    public DateTimeOffset ValidFrom { get; set; }
    public DateTimeOffset? ValidUntil { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
    public string? RevocationReason { get; set; }
}

/// <summary>
/// The append-only ledger of accepted and flagged attestations: the durable truth of usage.
/// Position is the export cursor; LeafIndex is the position in the transparency log.
/// Position is LeafIndex + 1, assigned under the log_state row lock: rows therefore become
/// visible in position order, so an export reading "after position p" never skips a row
/// that commits later with a smaller position (which a database sequence would allow).
/// </summary>
public sealed class LedgerEntry
{
    public long Position { get; set; }

    /// <summary>Chosen by the provider: unique per (marketplace, provider) only.</summary>
    public string AttestationId { get; set; } = "";
    public string MarketplaceId { get; set; } = "";
    public string ProviderId { get; set; } = "";
    public string LeaseId { get; set; } = "";
    public string AccountId { get; set; } = "";
    public string AcceleratorModel { get; set; } = "";
    public int AcceleratorCount { get; set; }
    public DateTimeOffset IntervalStart { get; set; }
    public DateTimeOffset IntervalEnd { get; set; }
    public bool Final { get; set; }
    public long FlopUnits { get; set; }
    public long GpuSeconds { get; set; }
    public string Precision { get; set; } = "";
    public string WorkloadCommitment { get; set; } = "";
    public string WorkloadClass { get; set; } = "";
    public DateTimeOffset SignedAt { get; set; }
    public long Sequence { get; set; }
    public string KeyId { get; set; } = "";
    public byte[] Signature { get; set; } = [];

    /// <summary>The exact bytes that were signed: the same id resubmitted must match them.</summary>
    public byte[] CanonicalBytes { get; set; } = [];

    public string Outcome { get; set; } = "";
    public string ReasonCodes { get; set; } = "";
    public string AppraisalPolicyVersion { get; set; } = "";
    public double ImpliedUtilisation { get; set; }
    public long SequenceGap { get; set; }
    public long LeafIndex { get; set; }
    public byte[] LeafHash { get; set; } = [];
    public DateTimeOffset RecordedAt { get; set; }

    /// <summary>
    /// True for every entry recorded since ids are unique per provider; false for the entries
    /// the migration found, whose ids were unique in the deployment and whose UsageAttested
    /// events enforcement recognises by the bare id (see UsageAttested.ProviderScopedId).
    /// </summary>
    public bool ProviderScopedId { get; set; }
}

/// <summary>
/// The single row that holds the log's size and root. Leaf indexes are assigned under a
/// row lock on it inside the ledger transaction, so they stay contiguous whatever the
/// number of replicas (DESIGN.md).
/// </summary>
public sealed class LogStateRecord
{
    public int Id { get; set; }
    public long TreeSize { get; set; }
    public byte[] RootHash { get; set; } = [];

    /// <summary>Roots of the perfect subtrees of the tree, largest first, 32 bytes each (see MerkleLog).</summary>
    public byte[] Frontier { get; set; } = [];

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>
/// The hash of a perfect subtree of the log at level 1 or above (level 0, the leaf hashes, are
/// in the ledger), written in the same transaction as the leaf that completes it. Proofs read
/// O(log n) of these rows instead of every leaf; they can always be recomputed from the ledger.
/// </summary>
public sealed class LogNodeRecord
{
    /// <summary>Index * 64 + level (see NodeRef.Id): one key per node.</summary>
    public long Id { get; set; }

    /// <summary>The subtree covers 2^Level leaves.</summary>
    public int Level { get; set; }

    /// <summary>The subtree covers leaves [Index * 2^Level, (Index + 1) * 2^Level).</summary>
    public long Index { get; set; }

    public byte[] Hash { get; set; } = [];
}

/// <summary>Rejected conflicts (same id with other bytes, reused sequence) kept for review only.</summary>
public sealed class ReviewItemRecord
{
    public long Id { get; set; }
    public string AttestationId { get; set; } = "";
    public string MarketplaceId { get; set; } = "";
    public string ProviderId { get; set; } = "";
    public string ReasonCode { get; set; } = "";

    /// <summary>What it conflicted with, for the person reviewing it.</summary>
    public string Detail { get; set; } = "";

    public string KeyId { get; set; } = "";
    public byte[] CanonicalBytes { get; set; } = [];
    public byte[] Signature { get; set; } = [];
    public DateTimeOffset RecordedAt { get; set; }
}
