using Oversight.Policy.Documents;

namespace Oversight.Policy.Decisions;

/// <summary>Who is asking, as enforcement knows the account.</summary>
/// <param name="TierLevel">The account's tier: its index in the ladder.</param>
/// <param name="Linked">Whether KYC has linked the account to others (a cluster of more than one).</param>
/// <param name="Erased">KYC erased the account: it can take no step up (no purpose, no verification).</param>
public readonly record struct AccountStanding(int TierLevel, bool Suspended = false, bool Linked = false, bool Erased = false);

/// <summary>What a request would add: FLOP units (10^12 FLOP) and GPU-seconds.</summary>
public readonly record struct RequestAmounts(long FlopUnits, long GpuSeconds)
{
    public long For(Metric metric) => metric switch
    {
        Metric.FlopUnits => FlopUnits,
        Metric.GpuSeconds => GpuSeconds,
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, "no such metric"),
    };
}

/// <summary>One limited window and metric of one tier, set against the usage the rule read.</summary>
/// <param name="SharedByCluster">The figures are the cluster's sums (a shared tier and a linked account).</param>
/// <param name="Request">The amount the request would add in this metric.</param>
public sealed record WindowAssessment(
    string TierId,
    string WindowId,
    Metric Metric,
    bool SharedByCluster,
    long Usage,
    long Held,
    long Request,
    long Limit)
{
    /// <summary>Usage + held + request: what the window would hold if the request ran.</summary>
    public Int128 After => (Int128)Usage + Held + Request;

    /// <summary>limit - usage - held, never below zero (before the request).</summary>
    public long Remaining => (long)Int128.Max(0, (Int128)Limit - Usage - Held);

    public bool Fits => After <= Limit;

    /// <summary>Whether the window would be past <paramref name="fraction"/> of its limit after the request.</summary>
    public bool IsPast(decimal fraction) => new NearLimitThreshold(fraction).IsPast(After, Limit);
}

/// <summary>The verdict for one request, with the windows that explain it.</summary>
/// <param name="RequiredTier">The lowest tier that would fit, when the verdict asks for a step up; otherwise null.</param>
/// <param name="DecidingWindow">
/// For REQUIRE_* and DENY the first window of the current tier the request would exceed; for
/// ALLOW and ALLOW_NEAR_LIMIT the window closest to its limit. Null when the account is suspended
/// or the current tier has no limits.
/// </param>
/// <param name="CurrentTierWindows">Every limited window and metric of the current tier.</param>
public sealed record Decision(
    Verdict Verdict,
    int CurrentTierLevel,
    TierDefinition CurrentTier,
    int? RequiredTierLevel,
    TierDefinition? RequiredTier,
    WindowAssessment? DecidingWindow,
    IReadOnlyList<WindowAssessment> CurrentTierWindows)
{
    private readonly Func<string>? _describe;
    private string? _message;

    public Decision(
        Verdict verdict, int currentTierLevel, TierDefinition currentTier, int? requiredTierLevel, TierDefinition? requiredTier,
        WindowAssessment? decidingWindow, IReadOnlyList<WindowAssessment> currentTierWindows, string message)
        : this(verdict, currentTierLevel, currentTier, requiredTierLevel, requiredTier, decidingWindow, currentTierWindows) =>
        _message = message;

    /// <summary>
    /// A decision whose sentence is written only when read: the replay decides millions of times
    /// and reads none of them, and formatting numbers costs more than deciding.
    /// </summary>
    internal Decision(
        Verdict verdict, int currentTierLevel, TierDefinition currentTier, int? requiredTierLevel, TierDefinition? requiredTier,
        WindowAssessment? decidingWindow, IReadOnlyList<WindowAssessment> currentTierWindows, Func<string> describe)
        : this(verdict, currentTierLevel, currentTier, requiredTierLevel, requiredTier, decidingWindow, currentTierWindows) =>
        _describe = describe;

    /// <summary>A sentence for a person: what was decided and what to do next.</summary>
    public string Message
    {
        get => _message ??= _describe?.Invoke() ?? "";
        init => _message = value;
    }
}
