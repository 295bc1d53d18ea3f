using Oversight.Policy.Counters;

namespace Oversight.Policy.Decisions;

/// <summary>Names one figure of a snapshot: whose usage, in which window, of which metric.</summary>
public readonly record struct UsageKey(SubjectKind Subject, string WindowId, Metric Metric);

/// <summary>Settled usage and live holds (reservations) in one window, as of the read.</summary>
public readonly record struct UsageFigures(long Usage, long Held);

/// <summary>
/// The usage figures the verdict rule reads, as a counter store returned them: for the account
/// itself (<see cref="SubjectKind.Own"/>) and, for a linked account, its cluster's sums
/// (<see cref="SubjectKind.Cluster"/>). <see cref="VerdictRule.RequiredFigures"/> says which
/// figures a decision needs; a missing one is an error, never a zero, because a silent zero
/// would undercount.
/// </summary>
public sealed class UsageSnapshot
{
    // Never changed after construction: With copies. (Admission builds one per request with
    // Builder, which is far cheaper than an immutable dictionary's twelve SetItem calls.)
    private readonly Dictionary<UsageKey, UsageFigures> _figures;

    private UsageSnapshot(Dictionary<UsageKey, UsageFigures> figures) => _figures = figures;

    public static UsageSnapshot Empty { get; } = new([]);

    public IReadOnlyDictionary<UsageKey, UsageFigures> Figures => _figures;

    /// <summary>A copy with one figure set (replacing any earlier one for the same key).</summary>
    public UsageSnapshot With(SubjectKind subject, string windowId, Metric metric, long usage, long held) =>
        With(new UsageKey(subject, windowId, metric), new UsageFigures(usage, held));

    public UsageSnapshot With(UsageKey key, UsageFigures figures)
    {
        ArgumentNullException.ThrowIfNull(key.WindowId);
        ArgumentOutOfRangeException.ThrowIfNegative(figures.Usage);
        ArgumentOutOfRangeException.ThrowIfNegative(figures.Held);
        return new UsageSnapshot(new Dictionary<UsageKey, UsageFigures>(_figures) { [key] = figures });
    }

    /// <summary>Builds a snapshot figure by figure without copying (the snapshot is read-only once built).</summary>
    public sealed class Builder(int capacity = 16)
    {
        private readonly Dictionary<UsageKey, UsageFigures> _figures = new(capacity);

        public Builder Set(SubjectKind subject, string windowId, Metric metric, long usage, long held)
        {
            ArgumentNullException.ThrowIfNull(windowId);
            ArgumentOutOfRangeException.ThrowIfNegative(usage);
            ArgumentOutOfRangeException.ThrowIfNegative(held);
            _figures[new UsageKey(subject, windowId, metric)] = new UsageFigures(usage, held);
            return this;
        }

        public UsageSnapshot Build() => new(_figures);
    }

    public bool TryGet(UsageKey key, out UsageFigures figures) => _figures.TryGetValue(key, out figures);

    /// <exception cref="InvalidOperationException">The snapshot has no figure for the key.</exception>
    public UsageFigures Get(UsageKey key) =>
        TryGet(key, out var figures) ? figures : throw new InvalidOperationException(MissingFigure(key));

    /// <summary>A figure the snapshot lacks, in <see cref="UsageFigures"/> laid out for the verdict rule (usage and held never go below zero otherwise).</summary>
    internal static UsageFigures Missing { get; } = new(-1, -1);

    internal static string MissingFigure(UsageKey key) =>
        $"the usage snapshot has no {key.Subject} figure for window '{key.WindowId}', metric {key.Metric}; read every key VerdictRule.RequiredFigures lists";

    /// <summary>The figures in the layout's order; those the snapshot lacks are <see cref="Missing"/>, figures of other windows are left out.</summary>
    internal UsageFigures[] ToFigures(CounterLayout layout)
    {
        var figures = new UsageFigures[layout.FigureCount];
        figures.AsSpan().Fill(Missing);
        foreach (var (key, value) in _figures)
        {
            var window = layout.WindowIndex(key.WindowId);
            if (window >= 0 && key.Metric is Metric.FlopUnits or Metric.GpuSeconds)
            {
                figures[layout.FigureIndex(key.Subject, window, key.Metric)] = value;
            }
        }

        return figures;
    }
}
