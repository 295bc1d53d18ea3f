namespace Oversight.Contracts;

// Bus events of DESIGN.md, past tense. Each leaves its service through that service's
// outbox in the same transaction as the state change; the outbox row id is the
// MessageId, so consumers deduplicate on it (delivery is at least once).
//
// Conventions: FLOP in units of 10^12 FLOP; GPU time in GPU-seconds; times UTC.
// Enumerations travel as their proto names without prefix (e.g. "STATED_PURPOSE",
// "ALLOW_NEAR_LIMIT") so that a new value never breaks an older consumer's deserialiser.
// Sequence is per account and strictly increasing: a consumer that has seen a higher
// sequence for the account ignores an older event that arrives late.

/// <summary>KYC created a pseudonymous account at the bottom rung.</summary>
public sealed record AccountCreated(
    string MarketplaceId,
    string AccountId,
    int TierLevel,
    string TierId,
    long PolicyVersion,
    long Sequence,
    DateTimeOffset CreatedAt);

/// <summary>An account moved up or down the ladder.</summary>
/// <param name="Requirement">The new tier's requirement kind (NONE, STATED_PURPOSE, IDENTITY, ORGANISATION).</param>
/// <param name="PurposeCategory">The stated purpose's category, when one is stated; never its text.</param>
public sealed record AccountTierChanged(
    string MarketplaceId,
    string AccountId,
    int FromLevel,
    string FromTierId,
    int ToLevel,
    string ToTierId,
    string Requirement,
    string Reason,
    string Actor,
    string? PurposeCategory,
    long PolicyVersion,
    long Sequence,
    DateTimeOffset ChangedAt);

/// <summary>Compliance suspended the account: enforcement answers DENY until reinstated.</summary>
public sealed record AccountSuspended(
    string MarketplaceId,
    string AccountId,
    string Reason,
    string Actor,
    long Sequence,
    DateTimeOffset SuspendedAt);

/// <summary>The suspension was lifted.</summary>
public sealed record AccountReinstated(
    string MarketplaceId,
    string AccountId,
    string Reason,
    string Actor,
    long Sequence,
    DateTimeOffset ReinstatedAt);

/// <summary>
/// Accounts of one marketplace were linked (same identity-document or registry blind
/// index, or an operator's explicit link). Carries the whole resulting cluster: the
/// shared budgets of policy-marked tiers apply to its summed usage.
/// </summary>
/// <param name="Basis">IDENTITY_DOCUMENT, ORGANISATION_REGISTRY or OPERATOR.</param>
public sealed record AccountsLinked(
    string MarketplaceId,
    string ClusterRoot,
    IReadOnlyList<string> ClusterAccountIds,
    string Basis,
    long ClusterVersion,
    DateTimeOffset LinkedAt);

/// <summary>The account's personal data was crypto-shredded; pseudonymous records stay.</summary>
public sealed record AccountErased(
    string MarketplaceId,
    string AccountId,
    DateTimeOffset ErasedAt);

/// <summary>
/// The attestation service accepted (or flagged) a usage attestation and logged it in
/// the transparency log. Enforcement counts it exactly once, keyed on ProviderId and
/// AttestationId (the provider chooses the id; it is unique per provider).
/// </summary>
/// <param name="Outcome">ACCEPTED or FLAGGED: both are counted (the usage happened).</param>
/// <param name="LedgerPosition">Position in the append-only ledger (the export cursor).</param>
/// <param name="ProviderScopedId">
/// True on every event published since attestation ids became unique per provider. An event of
/// an earlier version lacks it (false): its id was unique in the whole deployment, and
/// enforcement recognises it by the id alone, as that version's marks did (docs/design.md).
/// </param>
public sealed record UsageAttested(
    string AttestationId,
    string MarketplaceId,
    string ProviderId,
    string LeaseId,
    string AccountId,
    string AcceleratorModel,
    int AcceleratorCount,
    DateTimeOffset IntervalStart,
    DateTimeOffset IntervalEnd,
    bool Final,
    long FlopUnits,
    long GpuSeconds,
    string Precision,
    string WorkloadClass,
    string Outcome,
    long LeafIndex,
    string LeafHash,
    long LedgerPosition,
    DateTimeOffset RecordedAt,
    bool ProviderScopedId = false);

/// <summary>
/// Enforcement saw an account first need a step-up (Verdict REQUIRE_*/DENY), or first
/// pass the near-limit fraction (NearLimit true, Verdict ALLOW_NEAR_LIMIT).
/// </summary>
public sealed record ThresholdCrossed(
    string MarketplaceId,
    string AccountId,
    string Verdict,
    bool NearLimit,
    int CurrentTierLevel,
    int? RequiredTierLevel,
    string? RequiredTierId,
    string Requirement,
    string WindowId,
    string Metric,
    long Usage,
    long Held,
    long Limit,
    long PolicyVersion,
    DateTimeOffset CrossedAt);

/// <summary>Enforcement stored a new policy version; KYC takes its ladder from it.</summary>
/// <param name="Format">YAML or JSON.</param>
public sealed record PolicyChanged(
    long Version,
    string Document,
    string Format,
    string Actor,
    DateTimeOffset ChangedAt);

/// <summary>
/// The events another Oversight service consumes (a test checks the list against the services'
/// consumers). On RabbitMQ they are published as mandatory (<see cref="Mandatory"/>): the broker
/// must route each to a queue or return it, and the outbox keeps it until a queue receives it
/// (RabbitMQ drops, yet confirms, a message no queue is bound to, as before a consumer's first
/// start or on a broker that lost its state).
/// </summary>
public static class ConsumedEvents
{
    // Consumed only since this release: pods of the earlier version do not bind their queues, so
    // during a rolling upgrade a mandatory one would hold up its outbox, and every event after it,
    // until those pods are gone. Published plainly for one release (their consumers do not rely on
    // them alone: enforcement also learns an erasure when it confirms the account with KYC), then
    // made mandatory.
    private static readonly Type[] NewInThisRelease = [typeof(AccountErased)];

    public static IReadOnlySet<Type> Types { get; } = new HashSet<Type>
    {
        typeof(AccountCreated),
        typeof(AccountTierChanged),
        typeof(AccountSuspended),
        typeof(AccountReinstated),
        typeof(AccountsLinked),
        typeof(AccountErased),
        typeof(UsageAttested),
        typeof(ThresholdCrossed),
        typeof(PolicyChanged),
    };

    /// <summary>The consumed events published as mandatory: all but those consumed only since this release.</summary>
    public static IReadOnlySet<Type> Mandatory { get; } = Types.Except(NewInThisRelease).ToHashSet();
}
