namespace Oversight.Policy.Documents;

/// <summary>
/// The policy document: windows, the ladder and its limits, and the settings enforcement reads.
/// Its version is not part of it: enforcement numbers a document when it stores it
/// (<see cref="PolicyVersion"/>). Build one in code or load it with <see cref="PolicyLoader"/>;
/// <see cref="Resolve"/> gives the policy in force for one marketplace.
/// </summary>
public sealed record PolicyDocument
{
    public required ValueList<WindowDefinition> Windows { get; init; }

    /// <summary>Ordered tiers; the index is the tier level (0 = the lowest rung).</summary>
    public required ValueList<TierDefinition> Ladder { get; init; }

    /// <summary>ALLOW becomes ALLOW_NEAR_LIMIT past this fraction of a limit (0 &lt; f &lt; 1).</summary>
    public decimal NearLimitFraction { get; init; } = PolicyDefaults.NearLimitFraction;

    /// <summary>Utilisation assumed when a FLOP estimate is made from hardware time (0 &lt; u &lt;= 1).</summary>
    public decimal Utilisation { get; init; } = PolicyDefaults.Utilisation;

    /// <summary>
    /// Tiers whose budgets a cluster of linked accounts shares. Null means the default: every tier
    /// that needs no verification (requirement none or stated purpose), since those are the rungs
    /// one person can multiply by opening accounts.
    /// </summary>
    public ValueList<string>? SharedTierIds { get; init; }

    public FailMode FailMode { get; init; } = PolicyDefaults.FailMode;

    /// <summary>How long an unsettled hold (reservation) lives.</summary>
    public long HoldTtlSeconds { get; init; } = PolicyDefaults.HoldTtlSeconds;

    /// <summary>How long a counted-attestation mark is kept for exactly-once settlement.</summary>
    public long CountedMarkRetentionSeconds { get; init; } = PolicyDefaults.CountedMarkRetentionSeconds;

    /// <summary>Per-marketplace overrides, by marketplace id.</summary>
    public ValueMap<PolicyOverride> Overrides { get; init; } = ValueMap<PolicyOverride>.Empty;

    /// <summary>
    /// The policy in force for a marketplace: this document with that marketplace's override
    /// applied (a given ladder or window list replaces the whole list). A marketplace without an
    /// override, or null, gets the document as it is.
    /// </summary>
    /// <exception cref="PolicyValidationException">The resolved policy is not valid.</exception>
    public EffectivePolicy Resolve(string? marketplaceId)
    {
        if (marketplaceId is null || !Overrides.TryGetValue(marketplaceId, out var o))
        {
            return new EffectivePolicy(marketplaceId, this with { Overrides = ValueMap<PolicyOverride>.Empty });
        }
        return new EffectivePolicy(marketplaceId, ApplyOverride(o));
    }

    internal PolicyDocument ApplyOverride(PolicyOverride o) => new()
    {
        Windows = o.Windows ?? Windows,
        Ladder = o.Ladder ?? Ladder,
        NearLimitFraction = o.NearLimitFraction ?? NearLimitFraction,
        Utilisation = o.Utilisation ?? Utilisation,
        SharedTierIds = o.SharedTierIds ?? SharedTierIds,
        FailMode = o.FailMode ?? FailMode,
        HoldTtlSeconds = o.HoldTtlSeconds ?? HoldTtlSeconds,
        CountedMarkRetentionSeconds = o.CountedMarkRetentionSeconds ?? CountedMarkRetentionSeconds,
    };
}

/// <summary>A marketplace's changes to the top-level fields; null means "as the document says".</summary>
public sealed record PolicyOverride
{
    public ValueList<WindowDefinition>? Windows { get; init; }
    public ValueList<TierDefinition>? Ladder { get; init; }
    public decimal? NearLimitFraction { get; init; }
    public decimal? Utilisation { get; init; }
    public ValueList<string>? SharedTierIds { get; init; }
    public FailMode? FailMode { get; init; }
    public long? HoldTtlSeconds { get; init; }
    public long? CountedMarkRetentionSeconds { get; init; }
}

/// <summary>A counting window: rolling over <see cref="LengthSeconds"/>, or the account's lifetime.</summary>
/// <param name="Id">Stable name used in keys and messages, e.g. "24h", "30d", "lifetime".</param>
/// <param name="LengthSeconds">Window length; null for a lifetime window.</param>
/// <param name="BucketSeconds">Granularity of a rolling window (divides its length); null for lifetime.</param>
public sealed record WindowDefinition(string Id, long? LengthSeconds, long? BucketSeconds)
{
    public bool IsLifetime => LengthSeconds is null;

    public static WindowDefinition Rolling(string id, long lengthSeconds, long bucketSeconds) => new(id, lengthSeconds, bucketSeconds);

    public static WindowDefinition Lifetime(string id) => new(id, null, null);
}

/// <summary>A rung of the ladder.</summary>
/// <param name="Limits">Limits by window id; a window that is missing, like a metric that is null, is unlimited.</param>
public sealed record TierDefinition(string Id, string DisplayName, RequirementKind Requirement, ValueMap<WindowLimits> Limits)
{
    /// <summary>The tier's limit in one window and metric; null when unlimited.</summary>
    public long? LimitFor(string windowId, Metric metric) =>
        Limits.TryGetValue(windowId, out var limits) ? limits.For(metric) : null;
}

/// <summary>A tier's limits in one window; null = unlimited in that metric.</summary>
public sealed record WindowLimits(long? FlopUnits = null, long? GpuSeconds = null)
{
    /// <summary>The metrics in the order they are checked and reported.</summary>
    public static IReadOnlyList<Metric> Metrics { get; } = [Metric.FlopUnits, Metric.GpuSeconds];

    public long? For(Metric metric) => metric switch
    {
        Metric.FlopUnits => FlopUnits,
        Metric.GpuSeconds => GpuSeconds,
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, "no such metric"),
    };
}

/// <summary>A stored policy: the document and the version number enforcement gave it.</summary>
public sealed record PolicyVersion(long Version, PolicyDocument Document)
{
    public EffectivePolicy Resolve(string? marketplaceId) => Document.Resolve(marketplaceId);
}

/// <summary>Defaults for fields a document leaves out. One place, used by the model and the loader.</summary>
public static class PolicyDefaults
{
    public const decimal NearLimitFraction = 0.8m;

    /// <summary>Epoch AI's default for workloads other than large language models.</summary>
    public const decimal Utilisation = 0.4m;

    public const FailMode FailMode = Policy.FailMode.Closed;

    /// <summary>
    /// 6 hours. A hold keeps concurrent requests from over-committing a budget between Authorize
    /// and the lease's attestations; attested usage counts whether or not a hold is left. A lease
    /// whose marketplace never reports back blocks budget only until its hold expires: at most a
    /// quarter of the shortest default window (24 h), yet long enough for a provider that
    /// attests long leases periodically to report at least once before the hold lapses.
    /// </summary>
    public const long HoldTtlSeconds = 6 * 3600;

    /// <summary>30 days (DESIGN.md "Exactly once"): longer than any redelivery delay we expect.</summary>
    public const long CountedMarkRetentionSeconds = 30 * 86400;
}
