using Oversight.Replay.Traces;

namespace Oversight.Replay.Tests;

/// <summary>Traces made in a test, in memory.</summary>
internal static class TestTraces
{
    /// <summary>A trace as the adapters give it: jobs sorted by start, ties in the order given (OrderBy is stable).</summary>
    public static TraceLoad Of(IEnumerable<TraceJob> jobs)
    {
        var list = jobs.OrderBy(j => j.Start).ToArray();
        return new()
        {
            Format = "test",
            Files = [],
            Jobs = list,
            RowsRead = list.Length,
            RowsFiltered = new Dictionary<string, long>(),
            RowsSkipped = new Dictionary<string, long>(),
            BadRowExamples = [],
            Assumptions = [],
        };
    }
}
