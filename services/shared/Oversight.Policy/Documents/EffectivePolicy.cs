using Oversight.Policy.Counters;
using Oversight.Policy.Decisions;

namespace Oversight.Policy.Documents;

/// <summary>
/// The validated policy in force for one marketplace (overrides applied), with the look-ups the
/// verdict rule and the counter stores need. Get one from <see cref="PolicyDocument.Resolve"/>.
/// </summary>
public sealed class EffectivePolicy
{
    private readonly Dictionary<string, int> _tierLevels;
    private readonly HashSet<string> _sharedTierIds;
    private readonly LimitCheck[][] _limitsByLevel;
    private readonly LayoutLimit[][] _layoutLimitsByLevel;
    private readonly long[][] _highestNotNearByLevel;

    /// <exception cref="PolicyValidationException">The document is not valid.</exception>
    internal EffectivePolicy(string? marketplaceId, PolicyDocument document)
    {
        PolicyValidator.ValidateResolved(document);
        MarketplaceId = marketplaceId;
        Document = document;
        _tierLevels = document.Ladder.Select((t, level) => (t.Id, level)).ToDictionary(x => x.Id, x => x.level, StringComparer.Ordinal);
        _sharedTierIds = new HashSet<string>(SharedTierIdsOf(document), StringComparer.Ordinal);
        _limitsByLevel = document.Ladder.Select(BuildLimits).ToArray();
        Layout = new CounterLayout(document.Windows
            .Select(w => w.IsLifetime ? CounterWindow.Lifetime(w.Id) : new CounterWindow(w.Id, w.LengthSeconds, w.BucketSeconds ?? w.LengthSeconds!.Value)));
        _layoutLimitsByLevel = _limitsByLevel
            .Select(checks => checks.Select(c => new LayoutLimit(
                c.SharedByCluster ? SubjectKind.Cluster : SubjectKind.Own, Layout.WindowIndex(c.WindowId), c.Metric, c.Limit)).ToArray())
            .ToArray();
        NearLimit = new NearLimitThreshold(document.NearLimitFraction);
        _highestNotNearByLevel = _layoutLimitsByLevel.Select(limits => limits.Select(l => NearLimit.HighestNotPast(l.Limit)).ToArray()).ToArray();
    }

    /// <summary>The windows as the counter stores count them (a lifetime window has no buckets).</summary>
    public IReadOnlyList<CounterWindow> CounterWindows => Layout.Windows;

    /// <summary>The windows, validated once, and the order of an account's figures on the allocation-free path.</summary>
    public CounterLayout Layout { get; }

    /// <summary>When a window counts as near its limit.</summary>
    internal NearLimitThreshold NearLimit { get; }

    /// <summary>The marketplace this policy was resolved for; null for the document's own defaults.</summary>
    public string? MarketplaceId { get; }

    /// <summary>The resolved document (no overrides left in it).</summary>
    public PolicyDocument Document { get; }

    public IReadOnlyList<TierDefinition> Ladder => Document.Ladder;

    public IReadOnlyList<WindowDefinition> Windows => Document.Windows;

    /// <summary>The ids of the tiers whose budgets linked accounts share (defaults applied).</summary>
    public IReadOnlySet<string> SharedTierIds => _sharedTierIds;

    public TierDefinition Tier(int level) => Document.Ladder[CheckLevel(level)];

    public bool TryGetTierLevel(string tierId, out int level) => _tierLevels.TryGetValue(tierId, out level);

    public bool IsShared(int level) => _sharedTierIds.Contains(Tier(level).Id);

    public WindowDefinition Window(string windowId) =>
        Document.Windows.FirstOrDefault(w => w.Id == windowId) ?? throw new KeyNotFoundException($"the policy has no window '{windowId}'");

    /// <summary>
    /// The limits of one tier, in window order then FLOP before GPU-seconds: what a counter store
    /// checks atomically before it adds a hold. Unlimited windows and metrics are left out.
    /// </summary>
    public IReadOnlyList<LimitCheck> LimitsFor(int tierLevel) => _limitsByLevel[CheckLevel(tierLevel)];

    /// <summary>
    /// The same limits as <see cref="LimitsFor"/>, with windows as indexes into <see cref="Layout"/>
    /// and the subject a store checks (a shared tier's limits against the cluster's sums, which for
    /// an account alone in its cluster are its own).
    /// </summary>
    public ReadOnlySpan<LayoutLimit> LayoutLimitsFor(int tierLevel) => _layoutLimitsByLevel[CheckLevel(tierLevel)];

    /// <summary>For each of <see cref="LayoutLimitsFor"/>, the highest amount not past the near-limit fraction of it.</summary>
    internal ReadOnlySpan<long> HighestNotNearFor(int tierLevel) => _highestNotNearByLevel[CheckLevel(tierLevel)];

    internal LimitCheck[] LimitArray(int tierLevel) => _limitsByLevel[CheckLevel(tierLevel)];

    internal static IEnumerable<string> SharedTierIdsOf(PolicyDocument document) =>
        document.SharedTierIds
        ?? document.Ladder.Where(t => t.Requirement is RequirementKind.None or RequirementKind.StatedPurpose).Select(t => t.Id);

    private LimitCheck[] BuildLimits(TierDefinition tier) =>
        (from window in Document.Windows
         from metric in WindowLimits.Metrics
         let limit = tier.LimitFor(window.Id, metric)
         where limit is not null
         select new LimitCheck(window.Id, metric, limit.Value, _sharedTierIds.Contains(tier.Id))).ToArray();

    private int CheckLevel(int level) =>
        level >= 0 && level < Document.Ladder.Count
            ? level
            : throw new ArgumentOutOfRangeException(nameof(level), level, $"the ladder has tiers 0 to {Document.Ladder.Count - 1}");
}

/// <summary>One limit a counter store checks: usage + held + amount must stay at or below it.</summary>
/// <param name="SharedByCluster">Check the cluster's summed figures (equal to the account's own when it has no links).</param>
public sealed record LimitCheck(string WindowId, Metric Metric, long Limit, bool SharedByCluster);
