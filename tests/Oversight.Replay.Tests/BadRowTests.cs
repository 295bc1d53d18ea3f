using Oversight.Policy.Accelerators;
using Oversight.Replay.Traces;
using static Oversight.Replay.Tests.ParquetFiles;

namespace Oversight.Replay.Tests;

/// <summary>
/// A malformed row stops the load with a message a user can act on (file, 1-based line, column
/// number and name, reason); with SkipBadRows the load goes on and counts the rows by reason.
/// </summary>
public sealed class BadRowTests : IDisposable
{
    private const string Header = "account,start,end,accelerator,count";
    private const string NotATime = "is neither Unix seconds nor a date and time such as 2024-11-15 16:57:50";
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void A_bad_time_stops_the_load_naming_file_line_column_and_reason()
    {
        var path = _folder.WriteLines("bad.csv",
            Header,
            "alice,1700000000,1700000600,H100-SXM,1",
            "bob,yesterday,1700000600,H100-SXM,1",
            "carol,1700000000,1700000600,H100-SXM,1");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.Equal(_folder.About($"bad.csv:3, column 2 (start): 'yesterday' {NotATime}"), error.Message);
        Assert.Equal(new TraceLocation(_folder.Combine("bad.csv"), 3, "2 (start)"), error.Location);
    }

    [Fact]
    public void A_job_that_ends_before_it_starts_is_a_bad_row()
    {
        var path = _folder.WriteLines("bad.csv", Header, "alice,1700000600,1700000000,H100-SXM,1");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.Equal(_folder.About("bad.csv:2, column 3 (end): the job ends (2023-11-14T22:13:20Z) before it starts (2023-11-14T22:23:20Z)"), error.Message);
    }

    [Fact]
    public void An_unknown_accelerator_model_is_a_bad_row_whose_message_lists_the_known_models()
    {
        var path = _folder.WriteLines("bad.csv", Header, "alice,1700000000,1700000600,H100-SXM,1", "bob,1700000000,1700000600,A10,1");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.StartsWith(_folder.About("bad.csv:3, column 4 (accelerator): unknown accelerator model 'A10' (known: "), error.Message, StringComparison.Ordinal);
        foreach (var model in AcceleratorCatalogue.Default.Accelerators.Select(a => a.Model))
        {
            Assert.Contains(model, error.Reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_short_row_is_a_bad_row()
    {
        var path = _folder.WriteLines("bad.csv", Header, "alice,1700000000,1700000600");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.Equal(_folder.About("bad.csv:2: the row has 3 fields; the header has 5"), error.Message);
    }

    [Fact]
    public void A_row_with_more_fields_than_the_header_is_a_bad_row()
    {
        // The sixth field would be dropped unread, and the other values may be in the wrong columns.
        var path = _folder.WriteLines("bad.csv", Header, "a,2024-01-01T00:00:00Z,2024-01-01T01:00:00Z,H100-SXM,2,-5");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.Equal(_folder.About("bad.csv:2: the row has 6 fields; the header has 5"), error.Message);
    }

    [Fact]
    public void A_row_of_one_field_is_counted_in_the_singular()
    {
        var path = _folder.WriteLines("bad.csv", Header, "alice");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.Equal(_folder.About("bad.csv:2: the row has 1 field; the header has 5"), error.Message);
    }

    [Fact]
    public void A_quoted_field_with_commas_in_it_is_one_field()
    {
        var path = _folder.WriteLines("jobs.csv",
            Header + ",workload_class",
            "\"Acme, Inc.\",1700000000,1700000600,H100-SXM,1,\"pre-training, stage 2\"",
            "bob,1700000000,1700000600,H100-SXM,1,inference");

        var load = TraceFormats.Load(path, null, new TraceReadOptions());

        Assert.Equal([("Acme, Inc.", "pre-training, stage 2"), ("bob", "inference")], load.Jobs.Select(j => (j.Account, j.WorkloadClass)));
    }

    [Fact]
    public void A_row_of_a_headerless_table_with_an_extra_field_is_a_bad_row()
    {
        var jobs = _folder.WriteLines("pai_job_table.csv", "j1,i1,alice,Terminated,1000.0,4600.0,extra");
        var tasks = _folder.WriteLines("pai_task_table.csv", "j1,worker,1.0,Terminated,1000.0,4600.0,600.0,29.3,100.0,V100");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(jobs, "pai-2020", new TraceReadOptions { CompanionFile = tasks }));

        Assert.Equal(_folder.About("pai_job_table.csv:1: the row has 7 fields; the table has 6 columns"), error.Message);
    }

    [Fact]
    public async Task A_negative_accelerator_count_is_a_bad_row_at_its_column_in_every_format_that_has_a_count()
    {
        var csv = _folder.WriteLines("neg.csv", Header, "alice,1700000000,1700000600,H100-SXM,1", "bob,1700000000,1700000600,H100-SXM,-3");
        var jsonl = _folder.WriteLines("neg.jsonl", """{"account":"bob","start":1700000000,"end":1700000600,"accelerator":"H100-SXM","count":-3}""");
        var parquet = await WriteAsync(_folder.Combine("neg.parquet"), rowGroupSize: 10,
            Text("account", "bob"), Int64("start", 1_700_000_000), Int64("end", 1_700_000_600), Text("accelerator", "H100-SXM"), Int32("count", -3));
        var helios = _folder.WriteLines("helios.csv",
            "job_id,user,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue",
            "1,u1,-3,48,1,COMPLETED,2020-04-01 00:00:00,2020-04-01 00:00:10,2020-04-01 02:00:10,7200,vc1");
        var chronus = _folder.WriteLines("chronus.csv",
            "job_id,user,num_gpu,submit_time,iterations,model_name,duration,interval,expect_time_list,expect_value_list,best_effort,job_type",
            "0,vc_6214e9,-3,8555,5049,vgg16,747,14,1105,10,0,strict");

        string Error(string path) => Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions())).Message;

        Assert.Equal(_folder.About("neg.csv:3, column 5 (count): accelerator count -3 is negative"), Error(csv));
        Assert.Equal(_folder.About("neg.jsonl:1, column count: accelerator count -3 is negative"), Error(jsonl));
        Assert.Equal(_folder.About("neg.parquet:1, column 5 (count): accelerator count -3 is negative"), Error(parquet));
        Assert.Equal(_folder.About("helios.csv:2, column 3 (gpu_num): -3 is negative"), Error(helios));
        Assert.Equal(_folder.About("chronus.csv:2, column 3 (num_gpu): -3 is negative"), Error(chronus));
    }

    [Fact]
    public void With_skip_bad_rows_a_negative_count_is_skipped_as_malformed_and_a_count_of_0_is_still_left_out()
    {
        var path = _folder.WriteLines("neg.csv",
            Header,
            "alice,1700000000,1700000600,H100-SXM,1",
            "bob,1700000000,1700000600,H100-SXM,-3",
            "carol,1700000000,1700000600,H100-SXM,0");

        var load = TraceFormats.Load(path, null, new TraceReadOptions { SkipBadRows = true });

        Assert.Equal(["alice"], load.Jobs.Select(j => j.Account));
        Assert.Equal(3, load.RowsRead);
        Assert.Equal(new Dictionary<string, long> { ["column 5 (count): the accelerator count is negative"] = 1 }, load.RowsSkipped);
        Assert.Equal(["neg.csv:3, column 5 (count): accelerator count -3 is negative"], load.BadRowExamples);
        Assert.Equal(new Dictionary<string, long> { ["no accelerators (count 0)"] = 1 }, load.RowsFiltered);
    }

    [Fact]
    public void A_bad_number_names_its_column()
    {
        var path = _folder.WriteLines("bad.csv", Header, "alice,1700000000,1700000600,H100-SXM,two");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.Equal(_folder.About("bad.csv:2, column 5 (count): 'two' is not a whole number"), error.Message);
    }

    [Fact]
    public void An_invalid_json_line_names_its_line_and_the_column_where_parsing_failed()
    {
        var path = _folder.WriteLines("bad.jsonl",
            """{"account":"a","start":1700000000,"end":1700000600,"accelerator":"T4","count":1}""",
            """{"account": "b", "start": , "end": 1700000600}""");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        // The first character that cannot be JSON is the ',' after "start": (the 27th of the line).
        Assert.Equal(new TraceLocation(_folder.Combine("bad.jsonl"), 2, "27"), error.Location);
        Assert.StartsWith(_folder.About("bad.jsonl:2, column 27: not valid JSON"), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_invalid_json_line_counts_its_column_in_characters_not_bytes()
    {
        // "Zoë Ω" is 5 characters and 7 bytes in UTF-8: the ',' that fails is the 31st character (the 33rd byte).
        var path = _folder.WriteLines("bad.jsonl", """{"account": "Zoë Ω", "start": , "end": 1700000600}""");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.Equal(new TraceLocation(_folder.Combine("bad.jsonl"), 1, "31"), error.Location);
    }

    [Fact]
    public void A_json_line_without_a_required_field_names_the_field()
    {
        var path = _folder.WriteLines("bad.jsonl", """{"account":"a","end":1700000600,"accelerator":"T4","count":1}""");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.Equal(_folder.About("bad.jsonl:1, column start: the field is missing"), error.Message);
    }

    [Fact]
    public void Invalid_json_in_a_philly_job_log_names_its_line()
    {
        var path = _folder.WriteLines("cluster_job_log.json",
            "[",
            """  {"user": "alice", "status": "Pass", "attempts": []},""",
            """  {"user": "bob", "status": "Pass", "attempts": [}""",
            "]");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.Equal((path, 3L), (error.Location.File, error.Location.Line));
        Assert.Contains("not valid JSON", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void With_skip_bad_rows_the_load_goes_on_and_counts_the_bad_rows_by_column_and_kind_of_fault_not_by_value()
    {
        var path = _folder.WriteLines("bad.csv",
            Header,
            "alice,1700000000,1700000600,H100-SXM,1",
            "bob,yesterday,1700000600,H100-SXM,1",
            "carol,1700000600,1700000000,H100-SXM,1",
            "dave,tomorrow,1700000600,H100-SXM,1",
            "erin,1700000000,1700000600,A10,1",
            "frank,1700000000",
            "gina,1700000100,1700000700,T4,2");

        var load = TraceFormats.Load(path, null, new TraceReadOptions { SkipBadRows = true });

        Assert.Equal(["alice", "gina"], load.Jobs.Select(j => j.Account));
        Assert.Equal(7, load.RowsRead);
        // Two different bad times are one kind of fault: a trace with thousands has one line for them.
        Assert.Equal(2, load.RowsSkipped["column 2 (start): neither Unix seconds nor a date and time"]);
        Assert.Equal(1, load.RowsSkipped["column 3 (end): the job ends before it starts"]);
        Assert.Equal(1, load.RowsSkipped["the row has 2 fields; the header has 5"]);
        Assert.Equal(1, load.RowsSkipped["column 4 (accelerator): unknown accelerator model 'A10'"]);
        Assert.Equal(5, load.RowsSkipped.Values.Sum());
        Assert.Equal(
            [
                $"bad.csv:3, column 2 (start): 'yesterday' {NotATime}",
                "bad.csv:4, column 3 (end): the job ends (2023-11-14T22:13:20Z) before it starts (2023-11-14T22:23:20Z)",
                $"bad.csv:5, column 2 (start): 'tomorrow' {NotATime}",
            ],
            load.BadRowExamples.Take(3));
        Assert.StartsWith("bad.csv:6, column 4 (accelerator): unknown accelerator model 'A10'", load.BadRowExamples[3], StringComparison.Ordinal);
        Assert.Equal("bad.csv:7: the row has 2 fields; the header has 5", load.BadRowExamples[4]);
        Assert.Empty(load.RowsFiltered);
    }

    [Fact]
    public void With_skip_bad_rows_an_invalid_json_line_is_skipped_and_the_next_lines_are_read()
    {
        var path = _folder.WriteLines("bad.jsonl",
            """{"account":"a","start":1700000000,"end":1700000600,"accelerator":"T4","count":1}""",
            "{not json",
            """{"account":"b","start":1700000000,"end":1700000600,"accelerator":"T4","count":1}""");

        var load = TraceFormats.Load(path, null, new TraceReadOptions { SkipBadRows = true });

        Assert.Equal(["a", "b"], load.Jobs.Select(j => j.Account));
        Assert.Equal(1, load.RowsSkipped.Values.Sum());
        Assert.StartsWith("bad.jsonl:2, column ", Assert.Single(load.BadRowExamples), StringComparison.Ordinal);
    }
}
