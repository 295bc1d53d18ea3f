namespace Oversight.Replay.Traces;

/// <summary>
/// One job of a usage trace in the canonical form every adapter produces: who ran it, when,
/// on what. Times are Unix seconds (UTC); <see cref="End"/> &gt; <see cref="Start"/>.
/// </summary>
/// <param name="Account">The trace's user, group or account: the pseudonymous account it becomes.</param>
/// <param name="AcceleratorModel">A model of the accelerator catalogue (e.g. "H100-SXM").</param>
/// <param name="AcceleratorCount">Accelerators the job held, &gt; 0.</param>
/// <param name="FlopUnits">The job's FLOP in units of 10^12 when the trace gives it; else the policy's estimate is used.</param>
/// <param name="WorkloadClass">Free text such as "training" or "inference", reported as given.</param>
/// <param name="Line">Where the job came from (for messages).</param>
public sealed record TraceJob(
    string Account,
    long Start,
    long End,
    string AcceleratorModel,
    int AcceleratorCount,
    long? FlopUnits,
    string? WorkloadClass,
    TraceLocation Line)
{
    public long DurationSeconds => End - Start;

    /// <summary>
    /// The account's number in the trace it was read from (equal numbers name the same account), or
    /// -1. Traces are read with every account numbered, so that the replay finds each job's user by
    /// index: a look-up by name cost a quarter of the replay's own time (tests/Oversight.Replay.Benchmarks).
    /// A reading detail, not part of the job: equality leaves it out.
    /// </summary>
    public int AccountNumber { get; init; } = -1;

    public bool Equals(TraceJob? other) =>
        other is not null && Account == other.Account && Start == other.Start && End == other.End && AcceleratorModel == other.AcceleratorModel
        && AcceleratorCount == other.AcceleratorCount && FlopUnits == other.FlopUnits && WorkloadClass == other.WorkloadClass && Line == other.Line;

    public override int GetHashCode() => HashCode.Combine(Account, Start, End, AcceleratorModel, AcceleratorCount, FlopUnits, WorkloadClass, Line);
}

/// <summary>
/// A place in a trace file: the file's path as it was given (so that files of one name in two
/// folders are told apart), 1-based line (in a Parquet file, the row's number), and the column
/// when one is at fault. Line 0 is the file as a whole: a Parquet file names its columns in a
/// schema, not on a line.
/// </summary>
public readonly record struct TraceLocation(string File, long Line, string? Column = null)
{
    public override string ToString()
    {
        var place = Line == 0 ? File : $"{File}:{Line}";
        return Column is null ? place : $"{place}, column {Column}";
    }
}

/// <summary>A row that cannot become a job: where it is and why.</summary>
/// <param name="kind">
/// The reason without the row's own values (<c>is not a whole number</c> for <c>'abc' is not a whole
/// number</c>), by which skipped rows are counted: a trace with thousands of bad values has a few
/// kinds of fault, not thousands. The reason itself when it names no value.
/// </param>
public sealed class TraceFormatException(TraceLocation location, string reason, string? kind = null)
    : Exception($"{location}: {reason}")
{
    public TraceLocation Location { get; } = location;

    public string Reason { get; } = reason;

    public string Kind { get; } = kind ?? reason;

    /// <summary>What skipped rows are counted by: the column at fault, if one is, and the kind of fault.</summary>
    public string SkipReason => Location.Column is { } column ? $"column {column}: {Kind}" : Kind;
}
