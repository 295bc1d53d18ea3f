using System.Globalization;
using System.Security.Cryptography;

namespace Oversight.Replay.Traces;

/// <summary>A trace file as read: its name, size and SHA-256, so a report says exactly what was replayed.</summary>
public sealed record TraceFile(string Name, long Bytes, string Sha256)
{
    public static TraceFile Describe(string path)
    {
        using var stream = File.OpenRead(path);
        return new TraceFile(Path.GetFileName(path), stream.Length, Convert.ToHexStringLower(SHA256.HashData(stream)));
    }
}

/// <summary>
/// A trace read into canonical jobs, sorted by start time (ties keep file order: public traces
/// are not always in time order), with what was left out and why, and every value the tool
/// supplied in place of a missing field.
/// </summary>
public sealed class TraceLoad
{
    public required string Format { get; init; }

    public required IReadOnlyList<TraceFile> Files { get; init; }

    public required IReadOnlyList<TraceJob> Jobs { get; init; }

    /// <summary>Data rows read (header excluded).</summary>
    public required long RowsRead { get; init; }

    /// <summary>Well-formed rows that are not GPU usage (no GPUs, never started, zero time), by reason.</summary>
    public required IReadOnlyDictionary<string, long> RowsFiltered { get; init; }

    /// <summary>Accounts that appear only in rows left out (<see cref="RowsFiltered"/>): the replay has no user for them.</summary>
    public long AccountsOnlyInRowsLeftOut { get; init; }

    /// <summary>Malformed rows skipped with --skip-bad-rows, by reason.</summary>
    public required IReadOnlyDictionary<string, long> RowsSkipped { get; init; }

    /// <summary>The first malformed rows, with file, line, column and reason.</summary>
    public required IReadOnlyList<string> BadRowExamples { get; init; }

    /// <summary>Values supplied for fields the trace lacks, as sentences for the report.</summary>
    public required IReadOnlyList<string> Assumptions { get; init; }

    /// <summary>The first <paramref name="jobs"/> jobs (in start order), stated as an assumption of the slice.</summary>
    public TraceLoad Take(int jobs) => jobs >= Jobs.Count ? this : new TraceLoad
    {
        Format = Format,
        Files = Files,
        Jobs = Jobs.Take(jobs).ToArray(),
        RowsRead = RowsRead,
        RowsFiltered = RowsFiltered,
        AccountsOnlyInRowsLeftOut = AccountsOnlyInRowsLeftOut,
        RowsSkipped = RowsSkipped,
        BadRowExamples = BadRowExamples,
        Assumptions = [.. Assumptions, jobs == 1
            ? $"Only the first of the trace's {Jobs.Count:N0} jobs (in start order) is replayed."
            : $"Only the first {jobs:N0} of the trace's {Jobs.Count:N0} jobs (in start order) are replayed."],
    };

    /// <summary>
    /// Throws when no row became a job: a replay of nothing has no users and no compute to report,
    /// so the message says what became of the rows instead.
    /// </summary>
    /// <exception cref="EmptyTraceException">The trace has no jobs.</exception>
    public void EnsureJobs()
    {
        if (Jobs.Count > 0)
        {
            return;
        }

        var rows = new List<string> { $"{Wording.Count(RowsRead, "row")} read" };
        if (RowsFiltered.Count > 0)
        {
            rows.Add($"{RowsFiltered.Values.Sum().ToString("N0", CultureInfo.InvariantCulture)} left out ({Reasons(RowsFiltered)})");
        }

        if (RowsSkipped.Count > 0)
        {
            rows.Add($"{Wording.Count(RowsSkipped.Values.Sum(), "malformed row")} skipped ({Reasons(RowsSkipped)})");
        }

        throw new EmptyTraceException($"the trace has no GPU jobs to replay: {string.Join(", ", rows)}");
    }

    /// <summary>One reason as it is; several with their counts.</summary>
    private static string Reasons(IReadOnlyDictionary<string, long> byReason) => byReason.Count == 1
        ? byReason.Keys.Single()
        : string.Join("; ", byReason.Select(r => $"{r.Key}: {r.Value.ToString("N0", CultureInfo.InvariantCulture)}"));
}

/// <summary>A trace none of whose rows is a job to replay (all left out, or skipped as malformed).</summary>
public sealed class EmptyTraceException(string message) : InvalidOperationException(message);

/// <summary>Collects an adapter's jobs, filtered rows and bad rows; throws at the first bad row unless told to skip.</summary>
public sealed class TraceCollector(TraceReadOptions options)
{
    private const int MaxExamples = 20;
    private readonly List<TraceJob> _jobs = [];
    private readonly SortedDictionary<string, long> _filtered = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, long> _skipped = new(StringComparer.Ordinal);
    private readonly List<string> _examples = [];
    private readonly List<string> _assumptions = [];
    private readonly HashSet<string> _filteredAccounts = new(StringComparer.Ordinal);

    // Traces repeat a few thousand account names and a handful of models over millions of rows:
    // the jobs share one copy of each (a third of a large trace's memory otherwise).
    private readonly Dictionary<string, string> _names = new(StringComparer.Ordinal);

    private readonly Dictionary<string, int> _accountNumbers = new(StringComparer.Ordinal);

    public TraceReadOptions Options { get; } = options;

    public long RowsRead { get; private set; }

    /// <summary>A job of the trace (its names shared with the other jobs', its account numbered).</summary>
    public void Add(string account, long start, long end, string acceleratorModel, int acceleratorCount, long? flopUnits, string? workloadClass, TraceLocation line)
    {
        RowsRead++;
        account = Shared(account);
        ref var number = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_accountNumbers, account, out var known);
        if (!known)
        {
            number = _accountNumbers.Count - 1;
        }

        _jobs.Add(new TraceJob(account, start, end, Shared(acceleratorModel), acceleratorCount, flopUnits, workloadClass is { } text ? Shared(text) : null, line)
        {
            AccountNumber = number,
        });
    }

    private string Shared(string name)
    {
        ref var shared = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_names, name, out _);
        return shared ??= name;
    }

    /// <summary>A well-formed row that is not GPU usage, left out for <paramref name="reason"/>.</summary>
    /// <param name="account">The row's account, when it names one: an account whose every row is left out is reported.</param>
    public void Filter(string reason, string? account)
    {
        RowsRead++;
        _filtered[reason] = _filtered.GetValueOrDefault(reason) + 1;
        if (account is not null)
        {
            _filteredAccounts.Add(Shared(account));
        }
    }

    /// <summary>A malformed row: throws, or with --skip-bad-rows counts it by reason and goes on.</summary>
    public void Bad(TraceFormatException error)
    {
        if (!Options.SkipBadRows)
        {
            throw error;
        }

        RowsRead++;
        _skipped[error.SkipReason] = _skipped.GetValueOrDefault(error.SkipReason) + 1;
        if (_examples.Count < MaxExamples)
        {
            // The file by its name, as the report's provenance names it: outputs meant to be shared
            // carry no local path, and the same trace gives the same bytes from wherever it was read.
            _examples.Add($"{error.Location with { File = Path.GetFileName(error.Location.File) }}: {error.Reason}");
        }
    }

    /// <summary>Records a value the tool supplied for a missing field (once per sentence).</summary>
    public void Assume(string sentence)
    {
        if (!_assumptions.Contains(sentence))
        {
            _assumptions.Add(sentence);
        }
    }

    public TraceLoad Complete(string format, IReadOnlyList<TraceFile> files)
    {
        // A stable sort: equal start times keep the order the trace gave them. Most traces come in
        // order already, and then there is nothing to sort.
        var inOrder = true;
        for (var i = 1; i < _jobs.Count && inOrder; i++)
        {
            inOrder = _jobs[i - 1].Start <= _jobs[i].Start;
        }

        IReadOnlyList<TraceJob> ordered = inOrder
            ? _jobs
            : _jobs.Select((job, index) => (job, index)).OrderBy(x => x.job.Start).ThenBy(x => x.index).Select(x => x.job).ToArray();
        return new TraceLoad
        {
            Format = format,
            Files = files,
            Jobs = ordered,
            RowsRead = RowsRead,
            RowsFiltered = _filtered,
            AccountsOnlyInRowsLeftOut = _filteredAccounts.Count == 0 ? 0 : _filteredAccounts.Except(_jobs.Select(j => j.Account)).LongCount(),
            RowsSkipped = _skipped,
            BadRowExamples = _examples,
            Assumptions = _assumptions,
        };
    }
}
