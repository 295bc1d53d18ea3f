using System.Diagnostics;
using System.Globalization;
using Grpc.Core;

namespace Oversight.Benchmarks;

/// <summary>One measured phase: requests per second, latency percentiles and outcomes.</summary>
internal sealed record LoadResult(string Name, long Requests, long Errors, double Seconds, double P50, double P99, double P999, string Outcomes)
{
    public double RequestsPerSecond => Requests / Seconds;

    public string Line => string.Create(CultureInfo.InvariantCulture,
        $"{Name,-40} {Requests,10:N0} {RequestsPerSecond,10:N0} {P50,9:F2} {P99,9:F2} {P999,9:F2} {Errors,7:N0}");
}

/// <summary>A closed loop: each connection has one call in flight; a phase ends at its time or request budget.</summary>
internal static class Load
{
    public static string Header => $"{"phase",-40} {"requests",10} {"req/s",10} {"p50 ms",9} {"p99 ms",9} {"p99.9 ms",9} {"errors",7}";

    /// <param name="call">One call by a worker (its index, its running call number); returns the outcome to tally.</param>
    public static async Task<LoadResult> RunAsync(string name, int workers, int warmupSeconds, int seconds, int maxRequests, Func<int, long, Task<string>> call)
    {
        var counters = new long[workers];
        if (warmupSeconds > 0)
        {
            Console.WriteLine($"{name}: warming up for {warmupSeconds} s");
            await PhaseAsync(workers, TimeSpan.FromSeconds(warmupSeconds), long.MaxValue, counters, call, record: false);
        }

        Console.WriteLine($"{name}: measuring for {seconds} s");
        var clock = Stopwatch.StartNew();
        var results = await PhaseAsync(workers, TimeSpan.FromSeconds(seconds), maxRequests, counters, call, record: true);
        var elapsed = clock.Elapsed.TotalSeconds;

        var latencies = results.SelectMany(r => r.Latencies).ToArray();
        Array.Sort(latencies);
        var outcomes = results.SelectMany(r => r.Outcomes).GroupBy(o => o.Key).Select(g => (g.Key, Count: g.Sum(o => o.Value))).OrderByDescending(o => o.Count);
        var total = latencies.Length;
        return new LoadResult(
            name,
            total,
            results.Sum(r => r.Errors),
            elapsed,
            Percentile(latencies, 0.50),
            Percentile(latencies, 0.99),
            Percentile(latencies, 0.999),
            string.Join(", ", outcomes.Select(o => string.Create(CultureInfo.InvariantCulture, $"{o.Key} {o.Count:N0} ({(double)o.Count / Math.Max(1, total):P0})"))));
    }

    private static async Task<Worker[]> PhaseAsync(int workers, TimeSpan duration, long maxRequests, long[] counters, Func<int, long, Task<string>> call, bool record)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long issued = 0;
        var state = Enumerable.Range(0, workers).Select(_ => new Worker()).ToArray();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var worker = state[w];
            while (Stopwatch.GetTimestamp() < deadline && Interlocked.Increment(ref issued) <= maxRequests)
            {
                var n = counters[w]++;
                var started = Stopwatch.GetTimestamp();
                string outcome;
                try
                {
                    outcome = await call(w, n);
                }
                catch (RpcException e)
                {
                    outcome = "error " + e.StatusCode;
                    worker.Errors++;
                }

                if (record)
                {
                    worker.Latencies.Add(Stopwatch.GetTimestamp() - started);
                    worker.Outcomes[outcome] = worker.Outcomes.GetValueOrDefault(outcome) + 1;
                }
            }
        })));
        return state;
    }

    /// <summary>The latency (ms) at a fraction of the sorted samples (nearest rank).</summary>
    private static double Percentile(long[] sortedTicks, double fraction) =>
        sortedTicks.Length == 0 ? double.NaN
            : sortedTicks[Math.Clamp((int)Math.Ceiling(fraction * sortedTicks.Length) - 1, 0, sortedTicks.Length - 1)] * 1000.0 / Stopwatch.Frequency;

    private sealed class Worker
    {
        public List<long> Latencies { get; } = new(1 << 16);
        public Dictionary<string, long> Outcomes { get; } = new(StringComparer.Ordinal);
        public long Errors { get; set; }
    }
}
