using Oversight.Replay.Reports;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Simulation;

/// <summary>One scenario of a what-if and its replay.</summary>
public sealed record WhatIfRow(string Scenario, string Setting, ReportFacts Facts)
{
    /// <summary>FLOP units run at the lowest (anonymous) rung.</summary>
    public long AnonymousFlop => Facts.FlopRunByTier[0];

    /// <summary>
    /// For a sybil scenario, FLOP units run anonymously beyond what the baseline (one account per
    /// user, <paramref name="baselineAnonymousFlop"/>) ran anonymously; 0 for any other row.
    /// </summary>
    public long BeyondBaseline(long? baselineAnonymousFlop) =>
        Scenario.StartsWith("sybil", StringComparison.Ordinal) && baselineAnonymousFlop is { } b ? Math.Max(0, AnonymousFlop - b) : 0;

    /// <summary>The baseline's anonymous FLOP units among the rows of a sybil what-if, or null when it was not run.</summary>
    public static long? BaselineAnonymousFlop(IEnumerable<WhatIfRow> rows) => rows.FirstOrDefault(r => r.Scenario == "baseline")?.AnonymousFlop;

    /// <summary>The share of the compute requested that was not run because users left.</summary>
    public double ShareLost => Facts.Share(Facts.FlopLost, Facts.FlopRequested);
}

/// <summary>
/// The what-ifs of the replay. Abandonment: every step-up is abandoned with probability p, and
/// the compute the marketplace loses is measured. Sybil splitting: each user's jobs are spread
/// round-robin over k pseudonyms, without links (each pseudonym has its own budgets) and with the
/// links KYC makes (the pseudonyms share the budgets of the shared tiers), against the baseline of
/// one account per user, measured as compute run anonymously beyond what the baseline ran
/// anonymously (unlinked: compute escaping the threshold; linked: budget the baseline's one
/// account left unused while it waited for a step-up).
/// </summary>
public static class WhatIfs
{
    public static async Task<IReadOnlyList<WhatIfRow>> AbandonmentAsync(TraceLoad trace, ReplayOptions options, IReadOnlyList<double> probabilities, int parallelism, CancellationToken cancellationToken = default)
    {
        var scenarios = probabilities.Select(p => ("abandonment", $"p={ReportFacts.Number(p)}", options with
        {
            Behaviour = options.Behaviour with { AbandonAtPurpose = p, AbandonAtIdentity = p, AbandonAtOrganisation = p },
        })).ToArray();
        return await RunAsync(trace, scenarios, parallelism, cancellationToken);
    }

    public static async Task<IReadOnlyList<WhatIfRow>> SybilAsync(TraceLoad trace, ReplayOptions options, IReadOnlyList<int> splits, int parallelism, CancellationToken cancellationToken = default)
    {
        var scenarios = new List<(string, string, ReplayOptions)> { ("baseline", "k=1", options with { SybilSplit = 1, SybilLinked = false }) };
        foreach (var k in splits.Where(k => k > 1))
        {
            scenarios.Add(("sybil, unlinked", $"k={k}", options with { SybilSplit = k, SybilLinked = false }));
            scenarios.Add(("sybil, linked by KYC", $"k={k}", options with { SybilSplit = k, SybilLinked = true }));
        }

        return await RunAsync(trace, scenarios, parallelism, cancellationToken);
    }

    private static async Task<IReadOnlyList<WhatIfRow>> RunAsync(TraceLoad trace, IReadOnlyList<(string Scenario, string Setting, ReplayOptions Options)> scenarios, int parallelism, CancellationToken cancellationToken)
    {
        var rows = new WhatIfRow[scenarios.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, scenarios.Count), new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            var (scenario, setting, options) = scenarios[i];
            rows[i] = new WhatIfRow(scenario, setting, new ReportFacts(await ReplayRun.InProcessAsync(trace, options, ct)));
        });
        return rows;
    }
}
