using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Oversight.Policy.Documents;
using Oversight.Replay.Reports;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;
using Parquet.Schema;
using static Oversight.Replay.Tests.ParquetFiles;

namespace Oversight.Replay.Tests;

/// <summary>
/// The canonical trace as Parquet: the same jobs and the same replay as the canonical CSV, the
/// same error shape (file, row as line, column number and name, reason), --skip-bad-rows, and
/// detection by extension. Each test writes its small files with Parquet.Net.
/// </summary>
public sealed class ParquetTraceTests : IDisposable
{
    private const string CsvHeader = "account,start,end,accelerator,count,flop,workload_class";
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Parquet_gives_the_jobs_and_the_replay_of_the_same_trace_in_canonical_csv()
    {
        // 400 Philly jobs, FLOP on every third, written in reverse start order so that both readers have to sort.
        var jobs = SharedTraces.LoadPhilly().Jobs.Take(400).Reverse().ToArray();
        double?[] flop = [.. jobs.Select((j, i) => i % 3 == 0 ? j.AcceleratorCount * j.DurationSeconds * 2.5e14 : (double?)null)];
        var csv = _folder.WriteLines("jobs.csv",
        [
            CsvHeader,
            .. jobs.Select((j, i) => string.Join(',', j.Account, TraceTime.Format(j.Start), j.End, j.AcceleratorModel, j.AcceleratorCount, flop[i]?.ToString("R", CultureInfo.InvariantCulture), j.WorkloadClass)),
        ]);
        // Start as a timestamp column, end as Unix seconds, count as int32: the CSV has dates and plain numbers.
        var parquet = await WriteAsync(_folder.Combine("jobs.parquet"), rowGroupSize: 64,
            Text("account", [.. jobs.Select(j => j.Account)]),
            Timestamps("start", adjustedToUtc: true, [.. jobs.Select(j => DateTimeOffset.FromUnixTimeSeconds(j.Start).UtcDateTime)]),
            Int64("end", [.. jobs.Select(j => j.End)]),
            Text("accelerator", [.. jobs.Select(j => j.AcceleratorModel)]),
            Int32("count", [.. jobs.Select(j => j.AcceleratorCount)]),
            NullableDouble("flop", flop),
            Text("workload_class", [.. jobs.Select(j => j.WorkloadClass)]));

        var fromCsv = TraceFormats.Load(csv, null, new TraceReadOptions());
        var fromParquet = TraceFormats.Load(parquet, null, new TraceReadOptions());

        Assert.Equal(("csv", "parquet"), (fromCsv.Format, fromParquet.Format));
        Assert.Equal(400, fromParquet.Jobs.Count);
        Assert.Contains(fromParquet.Jobs, j => j.FlopUnits is not null);
        Assert.Equal(fromCsv.Jobs.Select(j => j with { Line = default }), fromParquet.Jobs.Select(j => j with { Line = default }));
        // The CSV's line 1 is its header; a Parquet row's line is its number in the file, over all row groups.
        Assert.Equal(fromCsv.Jobs.Select(j => j.Line.Line - 1), fromParquet.Jobs.Select(j => j.Line.Line));
        Assert.Equal(fromCsv.RowsRead, fromParquet.RowsRead);
        Assert.Equal(fromCsv.Assumptions, fromParquet.Assumptions);

        // The shipped ladder under which a Philly slice meets every verdict kind.
        var options = new ReplayOptions
        {
            Policy = PolicyLoader.Load(File.ReadAllText(Path.Combine(SharedTraces.RepositoryRoot, "tools", "replay", "examples", "every-verdict.yaml"))),
            Seed = 7,
            Behaviour = new UserBehaviour { AbandonAtPurpose = 0.3, AbandonAtIdentity = 0.3, AbandonAtOrganisation = 0.3 },
        };
        var csvOut = _folder.Combine("csv-out");
        var parquetOut = _folder.Combine("parquet-out");
        ReplayReports.WriteRun(csvOut, await ReplayRun.InProcessAsync(fromCsv, options), fromCsv, "in-process");
        ReplayReports.WriteRun(parquetOut, await ReplayRun.InProcessAsync(fromParquet, options), fromParquet, "in-process");

        using var csvSummary = JsonDocument.Parse(File.ReadAllText(Path.Combine(csvOut, "summary.json")));
        using var parquetSummary = JsonDocument.Parse(File.ReadAllText(Path.Combine(parquetOut, "summary.json")));
        foreach (var section in new[] { "policy", "parameters", "results" })
        {
            Assert.Equal(csvSummary.RootElement.GetProperty(section).GetRawText(), parquetSummary.RootElement.GetProperty(section).GetRawText());
        }

        Assert.Equal(File.ReadAllBytes(Path.Combine(csvOut, "accounts.csv")), File.ReadAllBytes(Path.Combine(parquetOut, "accounts.csv")));
        // Not a replay where nothing happens: users were asked to step up, and some left.
        var results = parquetSummary.RootElement.GetProperty("results");
        Assert.True(results.GetProperty("users_asked").GetProperty("identity").GetProperty("count").GetInt64() > 0);
        Assert.True(results.GetProperty("users_abandoned").GetInt64() > 0);

        // The provenance names the Parquet file exactly.
        var trace = parquetSummary.RootElement.GetProperty("trace");
        var file = Assert.Single(trace.GetProperty("files").EnumerateArray());
        Assert.Equal(
            ("parquet", "jobs.parquet", new FileInfo(parquet).Length, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(parquet))), 400L),
            (trace.GetProperty("format").GetString(), file.GetProperty("name").GetString(), file.GetProperty("bytes").GetInt64(), file.GetProperty("sha256").GetString(), trace.GetProperty("rows_read").GetInt64()));
    }

    [Fact]
    public async Task Timestamps_without_a_zone_are_utc_and_fractional_seconds_round_down_as_in_csv()
    {
        var start = new DateTime(2024, 11, 15, 16, 57, 50, 900, DateTimeKind.Unspecified);
        var path = await WriteAsync(_folder.Combine("jobs.parquet"), rowGroupSize: 10,
            Text("account", " alice "),
            Timestamps("start", adjustedToUtc: false, start),
            NullableDouble("end", 1_731_693_470.9),
            Text("accelerator", "H100-SXM"),
            Int32("count", 8),
            NullableDouble("flop", [null]),
            Text("workload_class", [null]));

        var job = Assert.Single(TraceFormats.Load(path, null, new TraceReadOptions()).Jobs);

        Assert.Equal(new TraceJob("alice", 1_731_689_870, 1_731_693_470, "H100-SXM", 8, null, null, new TraceLocation(_folder.Combine("jobs.parquet"), 1)), job);
    }

    [Fact]
    public async Task Required_columns_in_large_row_groups_read_every_value()
    {
        // Parquet.Net 6.1 can give a required (non-nullable) column random nulls when it is read
        // into a nullable buffer, once its buffer pool has been used: several loads of row groups
        // of 100,000 rows bring that out.
        const int Rows = 300_000;
        var path = await WriteAsync(_folder.Combine("large.parquet"), rowGroupSize: 100_000,
            new Column(new DataField("account", typeof(string), isNullable: false), Enumerable.Range(0, Rows).Select(i => $"u{i % 100}").ToArray()),
            Int64("start", [.. Enumerable.Range(0, Rows).Select(i => 1_700_000_000L + i)]),
            Timestamps("end", adjustedToUtc: true, [.. Enumerable.Range(0, Rows).Select(i => DateTime.UnixEpoch.AddSeconds(1_700_000_600L + i))]),
            Text("accelerator", [.. Enumerable.Repeat("T4", Rows)]),
            Int32("count", [.. Enumerable.Range(0, Rows).Select(i => i % 8 + 1)]));

        for (var load = 0; load < 4; load++)
        {
            var jobs = TraceFormats.Load(path, null, new TraceReadOptions()).Jobs;

            Assert.Equal(Rows, jobs.Count);
            Assert.Equal(Enumerable.Range(0, Rows).Sum(i => (long)(i % 8 + 1)), jobs.Sum(j => (long)j.AcceleratorCount));
            Assert.All(jobs, j => Assert.Equal(600, j.DurationSeconds));
        }
    }

    [Fact]
    public async Task A_file_without_a_required_column_names_the_file_and_the_column()
    {
        var path = await WriteAsync(_folder.Combine("jobs.parquet"), rowGroupSize: 10,
            Text("account", "alice"), Int64("end", 1_700_000_600), Text("accelerator", "H100-SXM"), Int32("count", 1));

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.Equal(_folder.About("jobs.parquet: the file has no 'start' column (canonical columns: account,start,end,accelerator,count,flop,workload_class)"), error.Message);
    }

    [Fact]
    public async Task A_column_of_a_type_it_cannot_hold_is_named_with_its_type()
    {
        var booleanStart = await WriteAsync(_folder.Combine("start.parquet"), rowGroupSize: 10,
            Text("account", "alice"), Booleans("start", true), Int64("end", 1_700_000_600), Text("accelerator", "H100-SXM"), Int32("count", 1));
        var textCount = await WriteAsync(_folder.Combine("count.parquet"), rowGroupSize: 10,
            Text("account", "alice"), Int64("start", 1_700_000_000), Int64("end", 1_700_000_600), Text("accelerator", "H100-SXM"), Text("count", "1"));

        var startError = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(booleanStart, null, new TraceReadOptions()));
        var countError = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(textCount, null, new TraceReadOptions()));

        Assert.Equal(_folder.About("start.parquet, column 2 (start): the column holds Boolean; expected a time: Unix seconds (an integer or floating-point column), a timestamp column, or dates as text"), startError.Message);
        Assert.Equal(_folder.About("count.parquet, column 5 (count): the column holds String; expected whole numbers (an integer or floating-point column)"), countError.Message);
    }

    [Fact]
    public async Task A_bad_value_stops_the_load_with_the_same_reason_and_column_as_in_csv_and_the_row_as_line()
    {
        var csv = _folder.WriteLines("bad.csv",
            "account,start,end,accelerator,count",
            "alice,1700000000,1700000600,H100-SXM,1",
            "bob,yesterday,1700000600,H100-SXM,1");
        var parquet = await WriteAsync(_folder.Combine("bad.parquet"), rowGroupSize: 1,
            Text("account", "alice", "bob"),
            Text("start", "1700000000", "yesterday"),
            Int64("end", 1_700_000_600, 1_700_000_600),
            Text("accelerator", "H100-SXM", "H100-SXM"),
            Int32("count", 1, 1));

        var csvError = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(csv, null, new TraceReadOptions()));
        var parquetError = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(parquet, null, new TraceReadOptions()));

        Assert.Equal(_folder.About("bad.parquet:2, column 2 (start): 'yesterday' is neither Unix seconds nor a date and time such as 2024-11-15 16:57:50"), parquetError.Message);
        Assert.Equal((csvError.Reason, csvError.Location.Column), (parquetError.Reason, parquetError.Location.Column));
    }

    [Theory]
    [InlineData(0, "bad.parquet:1, column 1 (account): the value is null")]
    [InlineData(1, "bad.parquet:2, column 5 (count): '1.5' is not a whole number")]
    [InlineData(2, "bad.parquet:3, column 6 (flop): FLOP must not be negative")]
    public async Task A_null_a_fraction_or_a_negative_flop_names_its_row_and_column(int badRow, string expected)
    {
        string?[] accounts = ["alice", "bob", "carol"];
        double?[] counts = [1, 2, 4];
        double?[] flop = [1e15, 2e15, 4e15];
        switch (badRow)
        {
            case 0:
                accounts[0] = null;
                break;
            case 1:
                counts[1] = 1.5;
                break;
            default:
                flop[2] = -1;
                break;
        }

        var path = await WriteAsync(_folder.Combine("bad.parquet"), rowGroupSize: 2,
            Text("account", accounts),
            Int64("start", 1_700_000_000, 1_700_000_000, 1_700_000_000),
            Int64("end", 1_700_000_600, 1_700_000_600, 1_700_000_600),
            Text("accelerator", "H100-SXM", "H100-SXM", "H100-SXM"),
            NullableDouble("count", counts),
            NullableDouble("flop", flop));

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.Equal(_folder.About(expected), error.Message);
    }

    [Fact]
    public async Task With_skip_bad_rows_the_load_goes_on_and_counts_the_bad_rows_by_reason()
    {
        var path = await WriteAsync(_folder.Combine("bad.parquet"), rowGroupSize: 2,
            Text("account", "alice", "bob", "carol", "dave", "erin", null, "gina"),
            Text("start", "1700000000", "yesterday", "1700000600", "yesterday", "1700000000", "1700000000", "2023-11-14 22:15:00"),
            Int64("end", 1_700_000_600, 1_700_000_600, 1_700_000_000, 1_700_000_600, 1_700_000_600, 1_700_000_600, 1_700_000_700),
            Text("accelerator", "H100-SXM", "H100-SXM", "H100-SXM", "H100-SXM", "A10", "H100-SXM", "T4"),
            Int32("count", 1, 1, 1, 1, 1, 1, 2));
        const string NotATime = "'yesterday' is neither Unix seconds nor a date and time such as 2024-11-15 16:57:50";

        var load = TraceFormats.Load(path, null, new TraceReadOptions { SkipBadRows = true });

        Assert.Equal(["alice", "gina"], load.Jobs.Select(j => j.Account));
        Assert.Equal([1L, 7], load.Jobs.Select(j => j.Line.Line));
        Assert.Equal(7, load.RowsRead);
        Assert.Equal(2, load.RowsSkipped["column 2 (start): neither Unix seconds nor a date and time"]);
        Assert.Equal(1, load.RowsSkipped["column 3 (end): the job ends before it starts"]);
        Assert.Equal(1, load.RowsSkipped["column 1 (account): the value is null"]);
        Assert.Equal(1, load.RowsSkipped["column 4 (accelerator): unknown accelerator model 'A10'"]);
        Assert.Equal(5, load.RowsSkipped.Values.Sum());
        Assert.Equal(
            [
                $"bad.parquet:2, column 2 (start): {NotATime}",
                "bad.parquet:3, column 3 (end): the job ends (2023-11-14T22:13:20Z) before it starts (2023-11-14T22:23:20Z)",
                $"bad.parquet:4, column 2 (start): {NotATime}",
            ],
            load.BadRowExamples.Take(3));
        Assert.StartsWith("bad.parquet:5, column 4 (accelerator): unknown accelerator model 'A10'", load.BadRowExamples[3], StringComparison.Ordinal);
        Assert.Equal("bad.parquet:6, column 1 (account): the value is null", load.BadRowExamples[4]);
    }

    [Theory]
    [InlineData("jobs.parquet")]
    [InlineData("JOBS.PARQUET")]
    public async Task A_parquet_extension_is_detected_as_canonical_parquet(string name)
    {
        var path = await WriteAsync(_folder.Combine(name), rowGroupSize: 10,
            Text("account", "alice"), Int64("start", 1_700_000_000), Int64("end", 1_700_000_600), Text("accelerator", "T4"), Int32("count", 1));

        Assert.Equal("parquet", TraceFormats.Detect(path).Name);
        Assert.Equal("parquet", TraceFormats.Load(path, "auto", new TraceReadOptions()).Format);
    }

    [Fact]
    public async Task The_format_can_be_named_for_a_file_with_another_extension()
    {
        var path = await WriteAsync(_folder.Combine("jobs.pq"), rowGroupSize: 10,
            Text("account", "alice"), Int64("start", 1_700_000_000), Int64("end", 1_700_000_600), Text("accelerator", "T4"), Int32("count", 1));

        var load = TraceFormats.Load(path, "parquet", new TraceReadOptions());

        Assert.Equal(("parquet", "alice"), (load.Format, Assert.Single(load.Jobs).Account));
    }

    [Fact]
    public void A_file_that_is_not_parquet_is_refused_with_its_name()
    {
        var path = _folder.WriteLines("jobs.parquet", CsvHeader, "alice,1700000000,1700000600,T4,1,,");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.StartsWith(_folder.About("jobs.parquet: not a readable Parquet file"), error.Message, StringComparison.Ordinal);
    }
}
