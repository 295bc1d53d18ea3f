using System.Globalization;
using Oversight.Policy;
using Oversight.Policy.Documents;
using Oversight.Replay.Reports;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Simulation;

/// <summary>One policy of a sweep: a label for tables and plots, and the document.</summary>
public sealed record SweepPolicy(string Label, PolicyDocument Policy, string Source);

/// <summary>One replayed point of a sweep with the two figures of the trade-off, per step-up the ladder has.</summary>
public sealed class SweepPoint
{
    public SweepPoint(string label, ReportFacts facts)
    {
        Label = label;
        Facts = facts;
        var asked = new Dictionary<RequirementKind, double>();
        var covered = new Dictionary<RequirementKind, double>();
        foreach (var kind in ReportFacts.StepUps)
        {
            if (facts.LevelOf(kind) is { } level)
            {
                asked[kind] = facts.Share(facts.Asked[kind], facts.Users);
                covered[kind] = facts.Result.ComputeShareOfUsersAtOrAbove(level);
            }
        }

        AskedShare = asked;
        CoveredShare = covered;
    }

    public string Label { get; }

    public ReportFacts Facts { get; }

    /// <summary>Share of users asked for the step-up.</summary>
    public IReadOnlyDictionary<RequirementKind, double> AskedShare { get; }

    /// <summary>Share of the compute run that users at or above the step-up's tier ran.</summary>
    public IReadOnlyDictionary<RequirementKind, double> CoveredShare { get; }
}

/// <summary>
/// Replays one trace under many policies: a grid of scale factors applied to every limit of the
/// ladder, or a list of policy files. Points are independent and run in parallel; the results
/// come back in the order the points were given, so the outputs do not depend on scheduling.
/// </summary>
public static class PolicySweep
{
    /// <summary>The policy with every limit of every tier (and of every override's ladder) multiplied by <paramref name="factor"/>, rounded up.</summary>
    public static PolicyDocument Scale(PolicyDocument policy, decimal factor)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(factor);
        return policy with
        {
            Ladder = ScaleLadder(policy.Ladder, factor),
            Overrides = new ValueMap<PolicyOverride>(policy.Overrides.Select(o => KeyValuePair.Create(o.Key,
                o.Value.Ladder is null ? o.Value : o.Value with { Ladder = ScaleLadder(o.Value.Ladder, factor) }))),
        };
    }

    public static IReadOnlyList<SweepPolicy> ScaleGrid(PolicyDocument policy, string source, IEnumerable<decimal> factors) =>
        factors.Select(f => new SweepPolicy("x" + f.ToString("0.####", CultureInfo.InvariantCulture), Scale(policy, f), $"{source} x {f.ToString(CultureInfo.InvariantCulture)}")).ToArray();

    public static async Task<IReadOnlyList<SweepPoint>> RunAsync(
        TraceLoad trace, ReplayOptions options, IReadOnlyList<SweepPolicy> policies, int parallelism, Action<int>? pointDone = null, CancellationToken cancellationToken = default)
    {
        var results = new SweepPoint[policies.Count];
        var done = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, policies.Count), new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            var pointOptions = options with { Policy = policies[i].Policy, PolicySource = policies[i].Source };
            var result = await ReplayRun.InProcessAsync(trace, pointOptions, ct);
            results[i] = new SweepPoint(policies[i].Label, new ReportFacts(result));
            pointDone?.Invoke(Interlocked.Increment(ref done));
        });
        return results;
    }

    private static ValueList<TierDefinition> ScaleLadder(IEnumerable<TierDefinition> ladder, decimal factor) =>
        new(ladder.Select(tier => tier with
        {
            Limits = new ValueMap<WindowLimits>(tier.Limits.Select(l => KeyValuePair.Create(l.Key, new WindowLimits(ScaleLimit(l.Value.FlopUnits, factor), ScaleLimit(l.Value.GpuSeconds, factor))))),
        }));

    private static long? ScaleLimit(long? limit, decimal factor) =>
        limit is { } value ? (long)Math.Min(long.MaxValue / 4, Math.Ceiling(value * factor)) : null;
}

/// <summary>The usual ways to run a replay: in this process, over a loaded trace.</summary>
public static class ReplayRun
{
    public static Task<ReplayResult> InProcessAsync(TraceLoad trace, ReplayOptions options, CancellationToken cancellationToken = default, Action<long>? progress = null, Action<VerdictEvent>? onVerdict = null)
    {
        var policy = options.Policy.Resolve(options.Marketplace);
        return RunAsync(trace, options, new InProcessBackend(policy), cancellationToken, progress, onVerdict);
    }

    /// <summary>
    /// Replays the trace through <paramref name="backend"/>. <paramref name="cancellationToken"/> stops
    /// the replay at its next event, and a backend's call in flight (<see cref="ICancellableBackend"/>);
    /// the task then throws <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <exception cref="EmptyTraceException">The trace has no jobs: there is nothing to replay or report.</exception>
    public static async Task<ReplayResult> RunAsync(TraceLoad trace, ReplayOptions options, IReplayBackend backend, CancellationToken cancellationToken = default, Action<long>? progress = null, Action<VerdictEvent>? onVerdict = null)
    {
        trace.EnsureJobs();
        var bucket = options.TimelineBucketSeconds ?? ReplayTimeline.BucketFor(trace.Jobs.Max(j => j.End) - trace.Jobs[0].Start);
        var simulator = new ReplaySimulator(options, backend, bucket) { OnProgress = progress, OnVerdict = onVerdict };
        using var calls = (backend as ICancellableBackend)?.CancelCallsWith(cancellationToken);
        // On a pool thread: the replay runs synchronously (IReplayBackend says why), and a caller
        // that shows progress keeps its own thread meanwhile.
        return await Task.Run(() => simulator.Run(trace.Jobs, cancellationToken), cancellationToken);
    }
}
