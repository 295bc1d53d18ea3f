using System.Text;
using System.Text.Json;
using Oversight.Policy.Accelerators;

namespace Oversight.Replay.Traces;

/// <summary>
/// The canonical trace, CSV with a header row (docs/replay.md): <c>account,start,end,accelerator,count</c>
/// and optional <c>flop</c> (total FLOP of the job, e.g. 3.6e18) and <c>workload_class</c>. Times are
/// Unix seconds or dates (UTC unless an offset is given). <c>accelerator</c> and <c>count</c> may be left
/// out when --accelerator and --accelerator-count supply them.
/// </summary>
public sealed class CanonicalCsvFormat : ITraceFormat
{
    public string Name => "csv";

    public string Description => "canonical CSV: account,start,end,accelerator,count[,flop][,workload_class]";

    public bool Recognises(IReadOnlyList<string> header) =>
        header.Contains("account", StringComparer.OrdinalIgnoreCase)
        && header.Contains("start", StringComparer.OrdinalIgnoreCase)
        && header.Contains("end", StringComparer.OrdinalIgnoreCase);

    public void Read(string path, TraceCollector collector)
    {
        using var table = CsvTable.Open(path);
        foreach (var required in new[] { "account", "start", "end" })
        {
            if (!table.Has(required))
            {
                throw new TraceFormatException(new TraceLocation(Path.GetFileName(path), 1), $"the header has no '{required}' column (canonical columns: account,start,end,accelerator,count,flop,workload_class)");
            }
        }

        var fallback = CanonicalFallback.For(collector, Path.GetFileName(path), table.Has("accelerator"), table.Has("count"));
        while (table.Read())
        {
            try
            {
                table.CheckWidth();
                var model = table.Has("accelerator") ? table.Required("accelerator") : fallback.Model!;
                var count = table.Has("count") ? table.Integer("count") : fallback.Count!.Value;
                long? flop = table.Text("flop") is null ? null : FlopUnits.FromFlop(Flop(table));
                JobRules.Add(collector, table.Location(), table.Required("account"), table.Time("start"), table.Time("end"), model, count, flop, table.Text("workload_class"));
            }
            catch (TraceFormatException e)
            {
                collector.Bad(e);
            }
        }
    }

    private static double Flop(CsvTable table)
    {
        var flop = table.Number("flop");
        return flop >= 0 ? flop : throw new TraceFormatException(table.Location("flop"), "FLOP must not be negative");
    }
}

/// <summary>
/// The canonical trace as JSON Lines: one object per line with the same fields as the CSV
/// (<c>account</c>, <c>start</c>, <c>end</c>, <c>accelerator</c>, <c>count</c>, <c>flop</c>, <c>workload_class</c>);
/// times as Unix seconds (numbers) or date strings.
/// </summary>
public sealed class CanonicalJsonLinesFormat : ITraceFormat
{
    public string Name => "jsonl";

    public string Description => "canonical JSON Lines: {\"account\",\"start\",\"end\",\"accelerator\",\"count\",\"flop\"?,\"workload_class\"?} per line";

    public bool Recognises(IReadOnlyList<string> header) => false;

    public void Read(string path, TraceCollector collector)
    {
        var file = Path.GetFileName(path);
        var fallback = CanonicalFallback.ForMissingFields(collector);
        long lineNumber = 0;
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                var fields = new JsonFields(file, lineNumber, line);
                var model = fields.Text("accelerator", required: fallback.Model is null) ?? fallback.Model!;
                var count = fields.Integer("count", required: fallback.Count is null) ?? fallback.Count!.Value;
                var flop = fields.Number("flop");
                JobRules.Add(collector, new TraceLocation(file, lineNumber), fields.Text("account", required: true)!, fields.Time("start"), fields.Time("end"),
                    model, count, flop is null ? null : FlopUnits.FromFlop(flop.Value), fields.Text("workload_class", required: false));
            }
            catch (TraceFormatException e)
            {
                collector.Bad(e);
            }
        }
    }

    /// <summary>One line's object, with getters that name the field at fault.</summary>
    private sealed class JsonFields
    {
        private readonly string _file;
        private readonly long _line;
        private readonly JsonElement _root;

        public JsonFields(string file, long line, string text)
        {
            _file = file;
            _line = line;
            try
            {
                using var document = JsonDocument.Parse(text);
                _root = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new TraceFormatException(new TraceLocation(file, line, $"{(e.BytePositionInLine ?? 0) + 1}"), $"not valid JSON: {e.Message.Split(" LineNumber")[0]}");
            }

            if (_root.ValueKind != JsonValueKind.Object)
            {
                throw new TraceFormatException(new TraceLocation(file, line), "each line must hold one JSON object");
            }
        }

        private TraceLocation At(string field) => new(_file, _line, field);

        private JsonElement? Get(string field, bool required) =>
            _root.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null
                ? value
                : required ? throw new TraceFormatException(At(field), "the field is missing") : null;

        public string? Text(string field, bool required) => Get(field, required) switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } v when v.GetString() is { Length: > 0 } s => s,
            _ => throw new TraceFormatException(At(field), "expected a non-empty string"),
        };

        public long? Integer(string field, bool required) => Get(field, required) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } v when v.TryGetInt64(out var n) => n,
            _ => throw new TraceFormatException(At(field), "expected a whole number"),
        };

        public double? Number(string field) => Get(field, required: false) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } v when v.GetDouble() >= 0 => v.GetDouble(),
            _ => throw new TraceFormatException(At(field), "expected a number of FLOP, at least 0"),
        };

        public long Time(string field) => Get(field, required: true)!.Value switch
        {
            { ValueKind: JsonValueKind.Number } v => (long)Math.Floor(v.GetDouble()),
            { ValueKind: JsonValueKind.String } v when TraceTime.TryParse(v.GetString()!, out var t) => t,
            _ => throw new TraceFormatException(At(field), "expected Unix seconds or a date and time such as \"2024-11-15T16:57:50Z\""),
        };
    }
}

/// <summary>What the canonical formats use when a row leaves out the accelerator or the count.</summary>
internal sealed record CanonicalFallback(string? Model, long? Count)
{
    public static CanonicalFallback For(TraceCollector collector, string file, bool hasModel, bool hasCount)
    {
        var options = collector.Options;
        if (!hasModel && options.Accelerator is null)
        {
            throw new TraceFormatException(new TraceLocation(file, 1), "the trace has no 'accelerator' column: give --accelerator");
        }

        if (!hasCount && options.AcceleratorCount is null)
        {
            throw new TraceFormatException(new TraceLocation(file, 1), "the trace has no 'count' column: give --accelerator-count");
        }

        return ForMissingFields(collector, hasModel, hasCount);
    }

    public static CanonicalFallback ForMissingFields(TraceCollector collector, bool hasModel = false, bool hasCount = false)
    {
        var options = collector.Options;
        if (!hasModel && options.Accelerator is { } model)
        {
            collector.Assume($"Jobs that name no accelerator are taken to run on {model} (--accelerator).");
        }

        if (!hasCount && options.AcceleratorCount is { } count)
        {
            collector.Assume($"Jobs that give no accelerator count are taken to use {count} (--accelerator-count).");
        }

        return new CanonicalFallback(hasModel ? null : options.Accelerator, hasCount ? null : options.AcceleratorCount);
    }
}
