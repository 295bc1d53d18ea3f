namespace Oversight.Kyc.Data;

/// <summary>A pseudonymous account of one marketplace. Holds no personal data.</summary>
public sealed class AccountRecord
{
    public string MarketplaceId { get; set; } = "";
    public string AccountId { get; set; } = "";
    public int TierLevel { get; set; }
    public string TierId { get; set; } = "";
    public bool Suspended { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public long PolicyVersion { get; set; }
    public string ClusterRoot { get; set; } = "";
    public string? PurposeCategory { get; set; }

    /// <summary>Per-account event sequence: consumers drop events older than what they hold.</summary>
    public long Sequence { get; set; }

    public DateTimeOffset? TierExpiresAt { get; set; }
    public DateTimeOffset? ErasedAt { get; set; }
    public string? NextStepRequirement { get; set; }
    public string? NextStepWindow { get; set; }
    public DateTimeOffset? NextStepSince { get; set; }

    /// <summary>Tier changes, oldest first by Id; loaded with the account in one query for GetAccount.</summary>
    public List<TierChangeRecord> History { get; set; } = [];
}

/// <summary>One rung change, with why and who (role:subject, never personal data).</summary>
public sealed class TierChangeRecord
{
    public long Id { get; set; }
    public string MarketplaceId { get; set; } = "";
    public string AccountId { get; set; } = "";
    public int FromLevel { get; set; }
    public string FromTierId { get; set; } = "";
    public int ToLevel { get; set; }
    public string ToTierId { get; set; } = "";
    public string Reason { get; set; } = "";
    public string Actor { get; set; } = "";
    public long PolicyVersion { get; set; }
    public DateTimeOffset At { get; set; }
}

/// <summary>
/// The account's data key, wrapped by the key-encryption key. Deleting this row
/// crypto-shreds everything encrypted under it (erasure).
/// </summary>
public sealed class AccountKeyRecord
{
    public string MarketplaceId { get; set; } = "";
    public string AccountId { get; set; } = "";
    /// <summary>nonce (12) || ciphertext (32) || tag (16) of the data key under the KEK.</summary>
    public byte[] WrappedKey { get; set; } = [];
    public string KekVersion { get; set; } = "";

    /// <summary>
    /// Generation of the data key itself. Bound into every ciphertext under it, so that
    /// rewrapping under a new KEK version needs no re-encryption of the data.
    /// </summary>
    public int DataKeyVersion { get; set; } = 1;

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>A stated purpose: the text only as AES-GCM ciphertext under the account's data key.</summary>
public sealed class StatedPurposeRecord
{
    public long Id { get; set; }
    public string MarketplaceId { get; set; } = "";
    public string AccountId { get; set; } = "";
    public string Category { get; set; } = "";
    public byte[]? Ciphertext { get; set; }
    public byte[]? Nonce { get; set; }
    public byte[]? Tag { get; set; }

    /// <summary>HMAC-SHA256 of the text (hex) under a versioned KYC key; deleted on erasure.</summary>
    public string? TextHash { get; set; }

    public string HashKeyVersion { get; set; } = "";

    /// <summary>The account data key generation the ciphertext was made with (bound as associated data).</summary>
    public int DataKeyVersion { get; set; }

    public DateTimeOffset StatedAt { get; set; }
}

/// <summary>An identity or organisation verification session and its latest result.</summary>
public sealed class VerificationRecord
{
    public long Id { get; set; }
    public string MarketplaceId { get; set; } = "";
    public string AccountId { get; set; } = "";
    public string Kind { get; set; } = "";
    public string Provider { get; set; } = "";
    public string SessionRef { get; set; } = "";
    public string Status { get; set; } = "";
    public string? AssuranceLevel { get; set; }

    /// <summary>Provider's time of the event applied last: older events never override it.</summary>
    public DateTimeOffset? LastEventAt { get; set; }

    /// <summary>The provider's id of the event applied last (breaks ties between equal times).</summary>
    public string? LastEventId { get; set; }

    public DateTimeOffset? VerifiedAt { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }

    /// <summary>Keyed hash (HMAC, versioned key) of the document or registry id; never the id itself.</summary>
    public string? BlindIndex { get; set; }

    public string? BlindIndexKeyVersion { get; set; }
    public int? BeneficialOwnerCount { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>
/// One link between two accounts of a marketplace: an edge of the graph whose connected
/// components are the clusters (an operator's explicit link, or the same blind index of an
/// identity document or organisation registry id). Holds pseudonyms only.
/// </summary>
public sealed class AccountLinkRecord
{
    public long Id { get; set; }
    public string MarketplaceId { get; set; } = "";
    public string AccountId { get; set; } = "";
    public string LinkedAccountId { get; set; } = "";

    /// <summary>IDENTITY_DOCUMENT, ORGANISATION_REGISTRY or OPERATOR (as on AccountsLinked).</summary>
    public string Basis { get; set; } = "";

    public string Reason { get; set; } = "";
    public string Actor { get; set; } = "";

    /// <summary>The marketplace's cluster version this link produced (AccountsLinked.ClusterVersion).</summary>
    public long ClusterVersion { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>
/// The marketplace's counter of cluster changes. Every link change increments it (the
/// ClusterVersion of its AccountsLinked), and its concurrency token makes two concurrent link
/// changes of one marketplace retry one after the other, so clusters never interleave.
/// </summary>
public sealed class MarketplaceClusterStateRecord
{
    public string MarketplaceId { get; set; } = "";
    public long ClusterVersion { get; set; }
}

/// <summary>A provider callback already applied (idempotency on the provider's event id).</summary>
public sealed class ProviderEventRecord
{
    public string Provider { get; set; } = "";
    public string EventId { get; set; } = "";
    public DateTimeOffset ReceivedAt { get; set; }
}

/// <summary>Append-only audit log: who, when, what, why. No personal data.</summary>
public sealed class AuditEventRecord
{
    public long Sequence { get; set; }
    public DateTimeOffset At { get; set; }
    public string Action { get; set; } = "";
    public string? MarketplaceId { get; set; }
    public string? AccountId { get; set; }
    public string Actor { get; set; } = "";
    public string Reason { get; set; } = "";
    public long PolicyVersion { get; set; }
}

/// <summary>KYC's copy of the policy versions enforcement published (for the ladder).</summary>
public sealed class PolicyCopyRecord
{
    public long Version { get; set; }
    public string Document { get; set; } = "";
    public string Format { get; set; } = "";
    public DateTimeOffset ReceivedAt { get; set; }
}
