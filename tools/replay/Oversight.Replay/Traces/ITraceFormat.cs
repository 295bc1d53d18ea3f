using Oversight.Policy.Accelerators;

namespace Oversight.Replay.Traces;

/// <summary>An adapter from one public trace format to canonical <see cref="TraceJob"/>s.</summary>
public interface ITraceFormat
{
    /// <summary>The name given to --format, e.g. "philly-chronus".</summary>
    string Name { get; }

    /// <summary>One line: where the format comes from and how its rows become jobs.</summary>
    string Description { get; }

    /// <summary>Whether a CSV header row is this format's (for --format auto); false for non-CSV formats.</summary>
    bool Recognises(IReadOnlyList<string> header);

    void Read(string path, TraceCollector collector);
}

/// <summary>Where a row keeps a job's end, accelerator model and count, for a fault in one of them.</summary>
internal sealed record JobColumns(TraceLocation End, TraceLocation Model, TraceLocation Count);

/// <summary>The checks every adapter applies to a job before it is replayed.</summary>
internal static class JobRules
{
    /// <summary>
    /// Adds the job, or filters a row that is not GPU usage (no accelerators, no time), or reports
    /// a malformed one (a negative count, end before start, unknown accelerator).
    /// </summary>
    /// <param name="columns">Where the end, the model and the count are, when the trace has such columns: a bad value is reported at its column.</param>
    public static void Add(TraceCollector collector, TraceLocation at, string account, long start, long end, string model, long count, long? flopUnits, string? workloadClass,
        JobColumns? columns = null)
    {
        if (count < 0)
        {
            // Count 0 is a job without accelerators (public traces have CPU-only rows); below 0 is no count at all.
            collector.Bad(new TraceFormatException(columns?.Count ?? at, $"accelerator count {count} is negative", "the accelerator count is negative"));
            return;
        }

        if (count == 0)
        {
            collector.Filter("no accelerators (count 0)", account);
            return;
        }

        if (end < start)
        {
            collector.Bad(new TraceFormatException(columns?.End ?? at, $"the job ends ({TraceTime.Format(end)}) before it starts ({TraceTime.Format(start)})", "the job ends before it starts"));
            return;
        }

        if (end == start)
        {
            collector.Filter("no accelerator time (zero duration)", account);
            return;
        }

        if (count > int.MaxValue)
        {
            collector.Bad(new TraceFormatException(columns?.Count ?? at, $"accelerator count {count} is too large", "the accelerator count is too large"));
            return;
        }

        if (!AcceleratorCatalogue.Default.TryGet(model, out var accelerator))
        {
            collector.Bad(new TraceFormatException(columns?.Model ?? at, $"unknown accelerator model '{model}' (known: {string.Join(", ", AcceleratorCatalogue.Default.Accelerators.Select(a => a.Model))})", $"unknown accelerator model '{model}'"));
            return;
        }

        if (flopUnits is < 0)
        {
            collector.Bad(new TraceFormatException(at, "FLOP must not be negative"));
            return;
        }

        if (flopUnits == 0)
        {
            collector.Filter("no FLOP (flop 0)", account);
            return;
        }

        collector.Add(account, start, end, accelerator.Model, (int)count, flopUnits, workloadClass, at);
    }

    /// <summary>The --accelerator value, or the format's default, recorded as an assumption.</summary>
    public static string Accelerator(TraceCollector collector, string formatDefault, string why)
    {
        var model = collector.Options.Accelerator ?? formatDefault;
        collector.Assume(collector.Options.Accelerator is null
            ? $"The trace names no accelerator model: every job is taken to run on {model} ({why}; change it with --accelerator)."
            : $"The trace names no accelerator model: every job is taken to run on {model} (--accelerator).");
        return model;
    }

    /// <summary>Rounds a fractional number of seconds up: a request that ran 0.2 s used the GPU for part of a second.</summary>
    public static long CeilSeconds(double seconds) => (long)Math.Ceiling(seconds);
}
