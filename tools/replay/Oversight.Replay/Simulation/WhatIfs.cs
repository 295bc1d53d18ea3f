using Oversight.Replay.Reports;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Simulation;

/// <summary>One scenario of a what-if and its replay.</summary>
public sealed record WhatIfRow(string Scenario, string Setting, ReportFacts Facts)
{
    /// <summary>FLOP units run at the lowest (anonymous) rung.</summary>
    public long AnonymousFlop => Facts.FlopRunByTier[0];
}

/// <summary>
/// The what-ifs of the replay. Abandonment: every step-up is abandoned with probability p, and
/// the compute the marketplace loses is measured. Sybil splitting: each user's jobs are spread
/// round-robin over k pseudonyms, without links (each pseudonym has its own budgets) and with the
/// links KYC makes (the pseudonyms share the budgets of the shared tiers), against the baseline of
/// one account per user; compute that escapes the threshold is compute run anonymously beyond
/// what the baseline ran anonymously.
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
