using Oversight.Replay.Traces;

namespace Oversight.Replay.Benchmarks;

/// <summary>
/// A deterministic synthetic trace, generated as it is read (so memory does not grow with its
/// length): jobs arrive every few seconds from accounts chosen with a heavy tail (a few accounts
/// run most of the work, as in the public traces), 1 to 8 H100s for a minute to a few hours. Under
/// the default policy the heavy accounts cross the anonymous and stated-purpose budgets, so
/// verdicts are mixed.
/// </summary>
internal static class SyntheticTrace
{
    public static IEnumerable<TraceJob> Jobs(int accounts, long jobs, int seed)
    {
        var random = new Random(seed);
        var names = Enumerable.Range(0, accounts).Select(i => $"acct-{i:D6}").ToArray();
        long time = 1_700_000_000;
        int[] counts = [1, 1, 1, 2, 4, 8];
        for (long i = 0; i < jobs; i++)
        {
            // About one job every 6 s: a million jobs span 70 days, well past the default policy's
            // longest rolling window (30 days), so every account's counters have reached their
            // steady size and two runs of different lengths can be compared for memory.
            time += random.Next(0, 13);
            // Heavy tail: squaring a uniform number favours low indexes (the heavy users).
            var u = random.NextDouble();
            var account = (int)(u * u * u * accounts);
            var v = random.NextDouble();
            var duration = 60L + (long)(v * v * v * v * 6 * 3600);
            yield return new TraceJob(names[account], time, time + duration, "H100-SXM", counts[random.Next(counts.Length)], null, null, new TraceLocation("synthetic", i + 1))
            {
                AccountNumber = account, // as a trace reader numbers them
            };
        }
    }
}
