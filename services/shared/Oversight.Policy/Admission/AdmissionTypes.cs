using Oversight.Policy.Counters;
using Oversight.Policy.Decisions;

namespace Oversight.Policy.Admission;

/// <summary>Where an account's counters live: its marketplace and its cluster's root (itself when unlinked).</summary>
public sealed record AccountRef(string MarketplaceId, string AccountId, string ClusterRoot)
{
    public bool Linked => !string.Equals(AccountId, ClusterRoot, StringComparison.Ordinal);

    /// <summary>The Redis hash tag of the account's keys (DESIGN.md, Sybil links).</summary>
    public string Tag => CounterTag.For(MarketplaceId, ClusterRoot);
}

/// <summary>A lease to admit. FlopUnits, when given, replaces the estimate.</summary>
public readonly record struct LeaseRequest(
    string LeaseId,
    string AcceleratorModel,
    int AcceleratorCount,
    long DurationSeconds,
    PrecisionClass Precision,
    long? FlopUnits,
    bool CheckOnly);

public enum AdmissionStatus
{
    /// <summary>Allowed and a hold was added.</summary>
    Reserved,
    /// <summary>The lease already holds a reservation: the same one is returned.</summary>
    Replayed,
    /// <summary>Allowed, check-only: nothing was held.</summary>
    Checked,
    /// <summary>Not allowed: nothing was held.</summary>
    NotReserved,
    /// <summary>The counters of this tag are gone (epoch missing): rebuild, then retry.</summary>
    EpochMissing,
    /// <summary>The lease id already holds a reservation made for other terms (model, count, duration, precision, FLOP): nothing was decided.</summary>
    OtherTerms,
}

/// <summary>What admission decided, with the figures it decided on.</summary>
public sealed record AdmissionOutcome(
    AdmissionStatus Status,
    Decision? Decision,
    RequestAmounts Requested,
    CounterHold? Hold,
    int ExpiredHoldsPruned);

/// <summary>What the allocation-free admission decided: the verdict without its explanation.</summary>
/// <param name="RequiredTierLevel">For REQUIRE_*, the tier the account must reach.</param>
public readonly record struct AdmissionVerdict(AdmissionStatus Status, Verdict Verdict, int? RequiredTierLevel, RequestAmounts Requested);

/// <summary>Usage to count once: one accepted or flagged attestation.</summary>
/// <param name="AttestationId">The exactly-once key (<see cref="SettleCommand.AttestationId"/>).</param>
public sealed record UsageRecord(
    string AttestationId,
    string? LeaseId,
    long FlopUnits,
    long GpuSeconds,
    long IntervalEndUnixSeconds,
    bool Final);
