namespace Oversight.Replay.Traces;

/// <summary>The formats the replay reads, by name, and the one entry point that reads a trace.</summary>
public static class TraceFormats
{
    public static IReadOnlyList<ITraceFormat> All { get; } =
    [
        new CanonicalCsvFormat(),
        new CanonicalJsonLinesFormat(),
        new CanonicalParquetFormat(),
        new AlibabaLoraFormat(),
        new PhillyChronusFormat(),
        new HeliosAcmeFormat(),
        new Pai2020Format(),
        new PhillyJsonFormat(),
    ];

    public static ITraceFormat Named(string name) =>
        All.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown trace format '{name}' (known: {string.Join(", ", All.Select(f => f.Name))}, auto)");

    /// <summary>
    /// The format of a file: .jsonl/.ndjson is canonical JSON Lines, .parquet canonical Parquet,
    /// .json a Philly job log, and a CSV is recognised by its header row.
    /// </summary>
    public static ITraceFormat Detect(string path)
    {
        var extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension is ".jsonl" or ".ndjson")
        {
            return Named("jsonl");
        }

        if (extension == ".parquet")
        {
            return Named("parquet");
        }

        if (extension == ".json")
        {
            return Named("philly-json");
        }

        var header = CsvTable.ReadHeader(path);
        // Specific public formats first: the canonical one is recognised by generic column names.
        return All.Skip(1).Concat(All.Take(1)).FirstOrDefault(f => f.Recognises(header))
            ?? throw new TraceFormatException(new TraceLocation(path, 1),
                $"cannot tell the trace format from the header ({string.Join(",", header.Take(8))}...): give --format ({string.Join(", ", All.Select(f => f.Name))})");
    }

    /// <summary>Reads a trace file (and its companion, for two-table formats) into sorted canonical jobs.</summary>
    /// <exception cref="TraceFormatException">A malformed row (without --skip-bad-rows), or an unreadable header.</exception>
    public static TraceLoad Load(string path, string? formatName, TraceReadOptions options)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"no trace file at {path}", path);
        }

        var format = formatName is null or "auto" ? Detect(path) : Named(formatName);
        var collector = new TraceCollector(options);
        format.Read(path, collector);
        var files = new List<TraceFile> { TraceFile.Describe(path) };
        if (options.CompanionFile is { } companion && format is Pai2020Format)
        {
            files.Add(TraceFile.Describe(companion));
        }

        return collector.Complete(format.Name, files);
    }
}
