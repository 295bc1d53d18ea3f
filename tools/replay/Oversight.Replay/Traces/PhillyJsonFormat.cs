using System.Text.Json;

namespace Oversight.Replay.Traces;

/// <summary>
/// Microsoft Philly job log (msr-fiddle/philly-traces, cluster_job_log): a JSON array of jobs with
/// <c>jobid</c>, <c>user</c>, <c>vc</c>, <c>status</c>, <c>submitted_time</c> and <c>attempts[]</c>, each attempt with
/// <c>start_time</c>, <c>end_time</c> and <c>detail[]</c> (machine <c>ip</c>, <c>gpus[]</c>). Each attempt that ran
/// becomes a job: account = <c>user</c>, count = the GPUs over its machines, workload class =
/// <c>status</c>. Attempts without a start or end ("None") are filtered.
/// </summary>
public sealed class PhillyJsonFormat : ITraceFormat
{
    public string Name => "philly-json";

    public string Description => "Microsoft Philly cluster_job_log JSON (user, attempts[].start_time/end_time/detail[].gpus)";

    public bool Recognises(IReadOnlyList<string> header) => false;

    public void Read(string path, TraceCollector collector)
    {
        var model = JobRules.Accelerator(collector, "P100-SXM2", "Philly ran 12 GB and 24 GB P100/P40-class GPUs");
        var bytes = File.ReadAllBytes(path);
        var lines = new LineIndex(bytes);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
            {
                throw new TraceFormatException(new TraceLocation(path, 1), "expected a JSON array of jobs");
            }

            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                var at = new TraceLocation(path, lines.LineOf(reader.TokenStartIndex));
                using var job = JsonDocument.ParseValue(ref reader);
                try
                {
                    ReadJob(job.RootElement, at, model, collector);
                }
                catch (TraceFormatException e)
                {
                    collector.Bad(e);
                }
            }
        }
        catch (JsonException e)
        {
            // A syntax error ends the file: nothing after it can be trusted to be a job.
            throw new TraceFormatException(new TraceLocation(path, (e.LineNumber ?? 0) + 1, $"{(e.BytePositionInLine ?? 0) + 1}"), "not valid JSON");
        }
    }

    private static void ReadJob(JsonElement job, TraceLocation at, string model, TraceCollector collector)
    {
        if (job.ValueKind != JsonValueKind.Object)
        {
            throw new TraceFormatException(at, "expected a job object");
        }

        var user = Text(job, "user", at) ?? throw new TraceFormatException(at with { Column = "user" }, "the field is missing");
        var status = Text(job, "status", at);
        if (!job.TryGetProperty("attempts", out var attempts) || attempts.ValueKind != JsonValueKind.Array || attempts.GetArrayLength() == 0)
        {
            collector.Filter("never started (no attempts)", user);
            return;
        }

        var index = 0;
        foreach (var attempt in attempts.EnumerateArray())
        {
            var field = $"attempts[{index++}]";
            var startText = Text(attempt, "start_time", at, field);
            var endText = Text(attempt, "end_time", at, field);
            if (startText is null or "None" || endText is null or "None")
            {
                collector.Filter("never started (attempt without start_time or end_time)", user);
                continue;
            }

            var start = Time(startText, at with { Column = $"{field}.start_time" });
            var end = Time(endText, at with { Column = $"{field}.end_time" });
            var gpus = 0L;
            if (attempt.TryGetProperty("detail", out var detail) && detail.ValueKind == JsonValueKind.Array)
            {
                foreach (var machine in detail.EnumerateArray())
                {
                    if (machine.ValueKind == JsonValueKind.Object && machine.TryGetProperty("gpus", out var list) && list.ValueKind == JsonValueKind.Array)
                    {
                        gpus += list.GetArrayLength();
                    }
                }
            }

            JobRules.Add(collector, at, user, start, end, model, gpus, null, status);
        }
    }

    private static string? Text(JsonElement element, string name, TraceLocation at, string? parent = null)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new TraceFormatException(at with { Column = parent is null ? name : $"{parent}.{name}" }, "expected a string");
    }

    private static long Time(string text, TraceLocation at) =>
        TraceTime.TryParse(text, out var seconds) ? seconds : throw new TraceFormatException(at, $"'{text}' is not a date and time", "not a date and time");

    /// <summary>Byte offsets of line starts, to name the line a job starts on.</summary>
    private sealed class LineIndex
    {
        private readonly List<long> _starts = [0];

        public LineIndex(byte[] bytes)
        {
            for (var i = 0; i < bytes.Length; i++)
            {
                if (bytes[i] == (byte)'\n')
                {
                    _starts.Add(i + 1);
                }
            }
        }

        public long LineOf(long offset)
        {
            var index = _starts.BinarySearch(offset);
            return (index >= 0 ? index : ~index - 1) + 1;
        }
    }
}
