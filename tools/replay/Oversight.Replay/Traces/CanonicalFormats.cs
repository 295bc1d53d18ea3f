using System.Text;
using System.Text.Json;

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
        var fallback = CanonicalRows.CheckColumns(collector, new TraceLocation(path, 1), "the header", table.Has);
        var row = new CsvRow(table);
        while (table.Read())
        {
            try
            {
                table.CheckWidth();
                CanonicalRows.Add(collector, row, fallback);
            }
            catch (TraceFormatException e)
            {
                collector.Bad(e);
            }
        }
    }

    /// <summary>The table's current record as a canonical row: an empty field is an absent value.</summary>
    private sealed class CsvRow(CsvTable table) : ICanonicalRow
    {
        public TraceLocation Location => table.Location();

        public TraceLocation At(string column) => table.Location(column);

        public TraceFormatException Missing(string column) => table.Empty(column);

        public string? Text(string column) => table.Text(column);

        public long? Integer(string column) => table.Text(column) is null ? null : table.Integer(column);

        public double? Number(string column) => table.Text(column) is null ? null : table.Number(column);

        public long? Time(string column) => table.Text(column) is null ? null : table.Time(column);
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
                CanonicalRows.Add(collector, new JsonFields(path, lineNumber, line), fallback);
            }
            catch (TraceFormatException e)
            {
                collector.Bad(e);
            }
        }
    }

    /// <summary>One line's object as a canonical row: an absent field or a JSON null is an absent value.</summary>
    private sealed class JsonFields : ICanonicalRow
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
                throw new TraceFormatException(new TraceLocation(file, line, $"{Column(text, e.BytePositionInLine ?? 0)}"), $"not valid JSON: {e.Message.Split(" LineNumber")[0]}");
            }

            if (_root.ValueKind != JsonValueKind.Object)
            {
                throw new TraceFormatException(new TraceLocation(file, line), "each line must hold one JSON object");
            }
        }

        public TraceLocation Location => new(_file, _line);

        /// <summary>The 1-based character column of a UTF-8 byte offset (the parser counts bytes; an editor counts characters).</summary>
        private static long Column(string text, long bytePosition)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            return Encoding.UTF8.GetCharCount(bytes, 0, (int)Math.Min(bytePosition, bytes.Length)) + 1;
        }

        public TraceLocation At(string field) => new(_file, _line, field);

        public TraceFormatException Missing(string field) => new(At(field), "the field is missing");

        private JsonElement? Get(string field) =>
            _root.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

        public string? Text(string field) => Get(field) switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } v when v.GetString() is { Length: > 0 } s => s,
            _ => throw new TraceFormatException(At(field), "expected a non-empty string"),
        };

        public long? Integer(string field) => Get(field) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } v when v.TryGetInt64(out var n) => n,
            _ => throw new TraceFormatException(At(field), "expected a whole number"),
        };

        public double? Number(string field) => Get(field) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } v => v.GetDouble(),
            _ => throw new TraceFormatException(At(field), "expected a number of FLOP"),
        };

        public long? Time(string field) => Get(field) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } v => (long)Math.Floor(v.GetDouble()),
            { ValueKind: JsonValueKind.String } v when TraceTime.TryParse(v.GetString()!, out var t) => t,
            _ => throw new TraceFormatException(At(field), "expected Unix seconds or a date and time such as \"2024-11-15T16:57:50Z\""),
        };
    }
}

/// <summary>
/// The canonical trace as an Apache Parquet file: columns named as in the CSV (<c>account</c>, <c>start</c>,
/// <c>end</c>, <c>accelerator</c>, <c>count</c>, optional <c>flop</c> and <c>workload_class</c>); times as Unix
/// seconds, timestamps (UTC when no zone is given) or date strings; a null is an empty field.
/// </summary>
public sealed class CanonicalParquetFormat : ITraceFormat
{
    public string Name => "parquet";

    public string Description => "canonical Parquet: the CSV's columns, by name (times as Unix seconds, timestamps or date strings)";

    public bool Recognises(IReadOnlyList<string> header) => false;

    // The trace readers are synchronous and Parquet.Net reads only asynchronously; Task.Run keeps
    // the wait off any synchronization context the caller has.
    public void Read(string path, TraceCollector collector) => Task.Run(() => ReadAsync(path, collector)).GetAwaiter().GetResult();

    private static async Task ReadAsync(string path, TraceCollector collector)
    {
        await using var table = await ParquetTable.OpenAsync(path);
        var fallback = CanonicalRows.CheckColumns(collector, table.Schema, "the file", table.Has);
        while (await table.ReadAsync())
        {
            try
            {
                CanonicalRows.Add(collector, table, fallback);
            }
            catch (TraceFormatException e)
            {
                collector.Bad(e);
            }
        }
    }
}
