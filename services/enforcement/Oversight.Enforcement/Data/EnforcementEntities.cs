namespace Oversight.Enforcement.Data;

/// <summary>A stored policy version. Enforcement owns the policy; versions are never rewritten.</summary>
public sealed class PolicyVersionRecord
{
    public long Version { get; set; }
    public string Document { get; set; } = "";
    public string Format { get; set; } = "";
    public string Comment { get; set; } = "";
    public string Actor { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>
/// Enforcement's copy of an account's tier, suspension and cluster, fed by KYC's events.
/// It is a cache: step-ups and unknown accounts are confirmed with KYC (DESIGN.md).
/// </summary>
public sealed class AccountCopyRecord
{
    public string MarketplaceId { get; set; } = "";
    public string AccountId { get; set; } = "";
    public int TierLevel { get; set; }
    public string TierId { get; set; } = "";
    public bool Suspended { get; set; }
    public string ClusterRoot { get; set; } = "";
    public long ClusterVersion { get; set; }

    /// <summary>KYC erased the account (never undone): it can take no step up, so Authorize denies past its tier.</summary>
    public bool Erased { get; set; }

    /// <summary>Highest KYC event sequence applied; older events are ignored.</summary>
    public long Sequence { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>
/// That an account has already been announced as crossing a threshold (ThresholdCrossed is
/// sent the first time only, per tier and kind).
/// </summary>
public sealed class ThresholdNoticeRecord
{
    public string MarketplaceId { get; set; } = "";
    public string AccountId { get; set; } = "";
    public int TierLevel { get; set; }

    /// <summary>STEP_UP or NEAR_LIMIT.</summary>
    public string Kind { get; set; } = "";

    public long PolicyVersion { get; set; }
    public DateTimeOffset At { get; set; }
}
