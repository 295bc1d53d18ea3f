using Oversight.Policy.Accelerators;

namespace Oversight.Replay.Traces;

/// <summary>
/// One row of a canonical trace, whatever file holds it (CSV, JSON Lines, Parquet). Each getter
/// returns null for an absent or empty value and throws a <see cref="TraceFormatException"/>
/// naming the column for a value of the wrong kind; which values are required, and what fills
/// them in, is <see cref="CanonicalRows"/>' to say, once for every format.
/// </summary>
internal interface ICanonicalRow
{
    /// <summary>Where the row is, for a fault of the whole row.</summary>
    TraceLocation Location { get; }

    /// <summary>Where one of the row's values is.</summary>
    TraceLocation At(string column);

    /// <summary>The error for a required value that is absent, in the format's own words.</summary>
    TraceFormatException Missing(string column);

    string? Text(string column);

    long? Integer(string column);

    double? Number(string column);

    /// <summary>A time as Unix seconds (fractions rounded down).</summary>
    long? Time(string column);
}

/// <summary>The canonical columns and the one rule that turns a canonical row into a job.</summary>
internal static class CanonicalRows
{
    public static readonly string[] Columns = ["account", "start", "end", "accelerator", "count", "flop", "workload_class"];

    public static readonly string[] RequiredColumns = ["account", "start", "end"];

    /// <summary>
    /// Checks a table's columns (a CSV header, a Parquet schema, at <paramref name="columnsAt"/>)
    /// and says what fills the optional ones it lacks.
    /// </summary>
    public static CanonicalFallback CheckColumns(TraceCollector collector, TraceLocation columnsAt, string table, Func<string, bool> has)
    {
        foreach (var required in RequiredColumns)
        {
            if (!has(required))
            {
                throw new TraceFormatException(columnsAt, $"{table} has no '{required}' column (canonical columns: {string.Join(',', Columns)})");
            }
        }

        return CanonicalFallback.For(collector, columnsAt, has("accelerator"), has("count"));
    }

    /// <summary>Adds the row's job (or filters it), or throws at its first bad value.</summary>
    public static void Add(TraceCollector collector, ICanonicalRow row, CanonicalFallback fallback)
    {
        var ownModel = row.Text("accelerator");
        var ownCount = row.Integer("count");
        var model = ownModel ?? fallback.Model(collector) ?? throw row.Missing("accelerator");
        var count = ownCount ?? fallback.Count(collector) ?? throw row.Missing("count");
        var flop = row.Number("flop");
        if (flop < 0)
        {
            throw new TraceFormatException(row.At("flop"), "FLOP must not be negative");
        }

        JobRules.Add(collector, row.Location,
            row.Text("account") ?? throw row.Missing("account"),
            row.Time("start") ?? throw row.Missing("start"),
            row.Time("end") ?? throw row.Missing("end"),
            model, count, flop is null ? null : FlopUnits.FromFlop(flop.Value), row.Text("workload_class"),
            // A value the options supplied is not in any column: its fault is the row's.
            new JobColumns(row.At("end"), ownModel is null ? row.Location : row.At("accelerator"), ownCount is null ? row.Location : row.At("count")));
    }
}

/// <summary>
/// What the canonical formats use when a row leaves out the accelerator or the count: the
/// options' values, stated as an assumption of the report once a row has used them (a JSON Lines
/// trace whose every line names its accelerator assumes nothing).
/// </summary>
internal sealed class CanonicalFallback(string? model, long? count)
{
    /// <summary>For a table whose columns are named once (<paramref name="columnsAt"/>): a column it has must be filled in every row.</summary>
    public static CanonicalFallback For(TraceCollector collector, TraceLocation columnsAt, bool hasModel, bool hasCount)
    {
        var options = collector.Options;
        if (!hasModel && options.Accelerator is null)
        {
            throw new TraceFormatException(columnsAt, "the trace has no 'accelerator' column: give --accelerator");
        }

        if (!hasCount && options.AcceleratorCount is null)
        {
            throw new TraceFormatException(columnsAt, "the trace has no 'count' column: give --accelerator-count");
        }

        return ForMissingFields(collector, hasModel, hasCount);
    }

    public static CanonicalFallback ForMissingFields(TraceCollector collector, bool hasModel = false, bool hasCount = false) =>
        new(hasModel ? null : collector.Options.Accelerator, hasCount ? null : collector.Options.AcceleratorCount);

    /// <summary>The model for a row that names none, or null; the report says so once used.</summary>
    public string? Model(TraceCollector collector)
    {
        if (model is not null)
        {
            collector.Assume($"Jobs that name no accelerator are taken to run on {model} (--accelerator).");
        }

        return model;
    }

    /// <summary>The count for a row that gives none, or null; the report says so once used.</summary>
    public long? Count(TraceCollector collector)
    {
        if (count is { } value)
        {
            collector.Assume($"Jobs that give no accelerator count are taken to use {value} (--accelerator-count).");
        }

        return count;
    }
}
