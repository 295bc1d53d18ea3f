namespace Oversight.Policy.Counters;

/// <summary>
/// A policy's windows, validated once, and the order in which the figures of one account are
/// laid out for the allocation-free path (see <see cref="InMemoryCounterStore.Handle"/>):
/// subject (the account's own, then its cluster's), then window, then metric (FLOP before
/// GPU-seconds), the same order as a <see cref="CounterSnapshot"/> for the subjects
/// <c>[account, "*"]</c>. Built once per policy (<see cref="Documents.EffectivePolicy.Layout"/>); immutable.
/// </summary>
public sealed class CounterLayout
{
    private readonly CounterWindow[] _windows;

    /// <exception cref="ArgumentException">The windows are not valid (see <see cref="CounterIds.ValidateWindows"/>).</exception>
    public CounterLayout(IEnumerable<CounterWindow> windows)
    {
        _windows = windows.ToArray();
        CounterIds.ValidateWindows(_windows);
    }

    public IReadOnlyList<CounterWindow> Windows => _windows;

    internal CounterWindow[] WindowArray => _windows;

    /// <summary>How many figures an account has: two subjects x windows x two metrics.</summary>
    public int FigureCount => _windows.Length * 4;

    /// <summary>The position of one figure in the layout.</summary>
    public int FigureIndex(SubjectKind subject, int window, Metric metric) =>
        ((((int)subject * _windows.Length) + window) * 2) + (metric == Metric.FlopUnits ? 0 : 1);

    /// <summary>The window's position in <see cref="Windows"/>, or -1.</summary>
    public int WindowIndex(string windowId)
    {
        for (var i = 0; i < _windows.Length; i++)
        {
            if (string.Equals(_windows[i].Id, windowId, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>One check of the allocation-free reserve: the subject's usage + held + amount of <paramref name="Metric"/> in window <paramref name="Window"/> (an index into the layout) must stay at or below <paramref name="Limit"/>.</summary>
public readonly record struct LayoutLimit(SubjectKind Subject, int Window, Metric Metric, long Limit);
