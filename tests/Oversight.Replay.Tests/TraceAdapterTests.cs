using Oversight.Policy.Documents;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Tests;

/// <summary>
/// Each adapter on a tiny file with the format's real columns: what becomes a job (account, times,
/// accelerator, count, FLOP, workload class, line), what is filtered and why, and which values the
/// tool supplied, stated as assumptions.
/// </summary>
public sealed class TraceAdapterTests : IDisposable
{
    private static readonly long Philly0 = Unix(2017, 10, 3, 0, 0, 0);
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Canonical_csv_reads_dates_offsets_and_unix_seconds_and_rounds_flop_up_to_units()
    {
        var path = _folder.WriteLines("jobs.csv",
            "account,start,end,accelerator,count,flop,workload_class",
            "alice,2024-11-15 16:57:50,2024-11-15 17:57:50,H100-SXM,8,3.6e18,training",
            "bob,1731690000,1731690600.9,a100,2,,inference",
            "carol,2024-11-15T18:00:00+02:00,2024-11-15T17:00:00Z,h100 sxm,1,1.5e12,");

        var load = TraceFormats.Load(path, "csv", new TraceReadOptions());

        Assert.Equal("csv", load.Format);
        Assert.Equal(3, load.RowsRead);
        // Sorted by start: carol (16:00Z), alice (16:57:50Z), bob.
        Assert.Equal(
            [
                new TraceJob("carol", Unix(2024, 11, 15, 16, 0, 0), Unix(2024, 11, 15, 17, 0, 0), "H100-SXM", 1, 2, null, new TraceLocation(_folder.Combine("jobs.csv"), 4)),
                new TraceJob("alice", Unix(2024, 11, 15, 16, 57, 50), Unix(2024, 11, 15, 17, 57, 50), "H100-SXM", 8, 3_600_000, "training", new TraceLocation(_folder.Combine("jobs.csv"), 2)),
                new TraceJob("bob", 1_731_690_000, 1_731_690_600, "A100", 2, null, "inference", new TraceLocation(_folder.Combine("jobs.csv"), 3)),
            ],
            load.Jobs);
        Assert.Empty(load.Assumptions);
        Assert.Single(load.Files);
        Assert.Equal("jobs.csv", load.Files[0].Name);
        Assert.Equal(new FileInfo(path).Length, load.Files[0].Bytes);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path))), load.Files[0].Sha256);
    }

    [Fact]
    public void Jobs_share_one_copy_of_each_name_and_keep_file_order_at_equal_starts()
    {
        var path = _folder.WriteLines("jobs.csv",
            "account,start,end,accelerator,count,flop,workload_class",
            "alice,1700000000,1700000600,H100-SXM,1,,training",
            "bob,1700000000,1700000600,H100-SXM,1,,training",
            "alice,1700000100,1700000600,H100-SXM,1,,training");

        var jobs = TraceFormats.Load(path, "csv", new TraceReadOptions()).Jobs;

        // In order already: the file's order, equal starts included.
        Assert.Equal([2L, 3L, 4L], jobs.Select(j => j.Line.Line));
        Assert.Same(jobs[0].Account, jobs[2].Account);
        Assert.Same(jobs[0].AcceleratorModel, jobs[1].AcceleratorModel);
        Assert.Same(jobs[0].WorkloadClass, jobs[2].WorkloadClass);
    }

    [Fact]
    public void Canonical_csv_without_accelerator_and_count_columns_takes_them_from_the_options_and_says_so()
    {
        var path = _folder.WriteLines("jobs.csv",
            "account,start,end",
            "alice,1700000000,1700003600");

        var load = TraceFormats.Load(path, null, new TraceReadOptions { Accelerator = "H100-SXM", AcceleratorCount = 4 });

        var job = Assert.Single(load.Jobs);
        Assert.Equal(("H100-SXM", 4, (long?)null), (job.AcceleratorModel, job.AcceleratorCount, job.FlopUnits));
        Assert.Contains(load.Assumptions, a => a.Contains("H100-SXM", StringComparison.Ordinal) && a.Contains("--accelerator)", StringComparison.Ordinal));
        Assert.Contains(load.Assumptions, a => a.Contains(" 4 ", StringComparison.Ordinal) && a.Contains("--accelerator-count", StringComparison.Ordinal));
    }

    [Fact]
    public void Canonical_csv_without_an_accelerator_column_or_option_asks_for_accelerator()
    {
        var path = _folder.WriteLines("jobs.csv",
            "account,start,end,count",
            "alice,1700000000,1700003600,1");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.Contains("give --accelerator", error.Message, StringComparison.Ordinal);
        Assert.StartsWith(_folder.About("jobs.csv:1"), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Canonical_jsonl_reads_numbers_and_date_strings_and_fills_missing_fields_from_the_options()
    {
        var path = _folder.WriteLines("jobs.jsonl",
            """{"account":"alice","start":"2024-11-15 16:57:50","end":1731693470,"flop":3.6e18,"workload_class":"training"}""",
            "",
            """{"account":"bob","start":1731690000.7,"end":"2024-11-15T17:10:00Z","accelerator":"A100","count":2}""");

        var load = TraceFormats.Load(path, null, new TraceReadOptions { Accelerator = "H100-SXM", AcceleratorCount = 8 });

        Assert.Equal("jsonl", load.Format);
        Assert.Equal(
            [
                new TraceJob("alice", 1_731_689_870, 1_731_693_470, "H100-SXM", 8, 3_600_000, "training", new TraceLocation(_folder.Combine("jobs.jsonl"), 1)),
                new TraceJob("bob", 1_731_690_000, 1_731_690_600, "A100", 2, null, null, new TraceLocation(_folder.Combine("jobs.jsonl"), 3)),
            ],
            load.Jobs);
        Assert.Contains(load.Assumptions, a => a.Contains("H100-SXM", StringComparison.Ordinal) && a.Contains("--accelerator)", StringComparison.Ordinal));
        Assert.Contains(load.Assumptions, a => a.Contains("--accelerator-count", StringComparison.Ordinal));
    }

    [Fact]
    public void Canonical_jsonl_whose_lines_all_name_their_accelerator_assumes_nothing_the_options_offer()
    {
        var path = _folder.WriteLines("jobs.jsonl",
            """{"account":"bob","start":1731690000,"end":1731690600,"accelerator":"A100","count":2}""");

        var load = TraceFormats.Load(path, null, new TraceReadOptions { Accelerator = "H100-SXM", AcceleratorCount = 8 });

        Assert.Equal("A100", Assert.Single(load.Jobs).AcceleratorModel);
        Assert.Empty(load.Assumptions);
    }

    [Fact]
    public void Alibaba_lora_runs_each_request_from_gmt_create_for_its_rounded_up_exec_time()
    {
        var path = _folder.WriteLines("lora.csv",
            "gmt_create,predict_type,predict_status,exec_time_seconds,groupId,prompt_length,negative_prompt_length,num_images_per_prompt,num_inference_steps,checkpoint_model_version_id,num_lora",
            "2024-11-15 16:57:50,TXT_2_IMG,SUCCEED,32.0,G0000,63.0,26.0,1.0,30.0,M0000,0",
            "2024-11-15 18:16:14,TXT_2_IMG,FAILED,2.2,G0001,93.0,,1.0,40.0,M0001,0",
            "2024-11-15 18:20:00,IMG_2_IMG,SUCCEED,0.0,G0002,10.0,,1.0,20.0,M0001,1");

        var load = TraceFormats.Load(path, null, new TraceReadOptions());

        Assert.Equal("alibaba-lora", load.Format);
        var start = Unix(2024, 11, 15, 16, 57, 50);
        var failed = Unix(2024, 11, 15, 18, 16, 14);
        Assert.Equal(
            [
                new TraceJob("G0000", start, start + 32, "A100", 1, null, "TXT_2_IMG", new TraceLocation(_folder.Combine("lora.csv"), 2)),
                new TraceJob("G0001", failed, failed + 3, "A100", 1, null, "TXT_2_IMG", new TraceLocation(_folder.Combine("lora.csv"), 3)),
            ],
            load.Jobs);
        Assert.Equal(new Dictionary<string, long> { ["no accelerator time (zero duration)"] = 1 }, load.RowsFiltered);
        Assert.Equal(3, load.RowsRead);
        Assert.Contains(load.Assumptions, a => a.Contains("A100", StringComparison.Ordinal) && a.Contains("--accelerator", StringComparison.Ordinal));
        Assert.Contains(load.Assumptions, a => a.Contains("use 1 (--accelerator-count)", StringComparison.Ordinal));
    }

    [Fact]
    public void Alibaba_lora_takes_accelerator_and_count_from_the_options()
    {
        var path = _folder.WriteLines("lora.csv",
            "gmt_create,predict_type,predict_status,exec_time_seconds,groupId,prompt_length,negative_prompt_length,num_images_per_prompt,num_inference_steps,checkpoint_model_version_id,num_lora",
            "2024-11-15 16:57:50,TXT_2_IMG,SUCCEED,32.0,G0000,63.0,26.0,1.0,30.0,M0000,0");

        var load = TraceFormats.Load(path, "alibaba-lora", new TraceReadOptions { Accelerator = "L40S", AcceleratorCount = 2 });

        var job = Assert.Single(load.Jobs);
        Assert.Equal(("L40S", 2), (job.AcceleratorModel, job.AcceleratorCount));
        Assert.Contains(load.Assumptions, a => a.Contains("L40S (--accelerator)", StringComparison.Ordinal));
        Assert.Contains(load.Assumptions, a => a.Contains("use 2 (--accelerator-count)", StringComparison.Ordinal));
    }

    [Fact]
    public void Philly_chronus_counts_submit_times_from_the_trace_start_and_filters_jobs_without_gpus()
    {
        var path = _folder.WriteLines("chronus.csv",
            "job_id,user,num_gpu,submit_time,iterations,model_name,duration,interval,expect_time_list,expect_value_list,best_effort,job_type",
            "0,vc_6214e9,1,8555,5049,vgg16,747,14,1105,10,0,strict",
            "1,vc_ed69ec,4,832,296,mobilenet_v2,98,8,128,10,0,strict",
            "2,vc_ed69ec,0,900,296,resnet50,98,8,128,10,0,strict");

        var load = TraceFormats.Load(path, null, new TraceReadOptions());

        Assert.Equal("philly-chronus", load.Format);
        Assert.Equal(
            [
                new TraceJob("vc_ed69ec", Philly0 + 832, Philly0 + 832 + 98, "P100-SXM2", 4, null, "mobilenet_v2", new TraceLocation(_folder.Combine("chronus.csv"), 3)),
                new TraceJob("vc_6214e9", Philly0 + 8555, Philly0 + 8555 + 747, "P100-SXM2", 1, null, "vgg16", new TraceLocation(_folder.Combine("chronus.csv"), 2)),
            ],
            load.Jobs);
        Assert.Equal(new Dictionary<string, long> { ["no accelerators (count 0)"] = 1 }, load.RowsFiltered);
        Assert.Contains(load.Assumptions, a => a.Contains("P100-SXM2", StringComparison.Ordinal));
        Assert.Contains(load.Assumptions, a => a.Contains("2017-10-03T00:00:00Z (--trace-start)", StringComparison.Ordinal));
    }

    [Fact]
    public void Philly_chronus_counts_from_the_given_trace_start()
    {
        var path = _folder.WriteLines("chronus.csv",
            "job_id,user,num_gpu,submit_time,iterations,model_name,duration,interval,expect_time_list,expect_value_list,best_effort,job_type",
            "1,vc_ed69ec,4,832,296,mobilenet_v2,98,8,128,10,0,strict");

        var load = TraceFormats.Load(path, null, new TraceReadOptions { TraceStart = 1_700_000_000, Accelerator = "V100-SXM2" });

        var job = Assert.Single(load.Jobs);
        Assert.Equal((1_700_000_832L, 1_700_000_930L, "V100-SXM2"), (job.Start, job.End, job.AcceleratorModel));
    }

    [Fact]
    public void Helios_reads_gpu_num_start_and_end_and_filters_cpu_only_and_never_started_jobs_with_reasons()
    {
        var path = _folder.WriteLines("helios.csv",
            "job_id,user,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue",
            "1,u1,8,48,1,COMPLETED,2020-04-01 00:00:00,2020-04-01 00:00:10,2020-04-01 02:00:10,7200,vc1",
            "2,u2,0,4,1,COMPLETED,2020-04-01 00:01:00,2020-04-01 00:01:00,2020-04-01 00:11:00,600,vc2",
            "3,u3,2,8,1,CANCELLED,2020-04-01 00:02:00,,,0,vc1",
            "4,u1,1,8,1,FAILED,2020-04-01 00:03:00,2020-04-01 00:03:00,2020-04-01 00:04:00,60,vc1");

        var load = TraceFormats.Load(path, null, new TraceReadOptions());

        Assert.Equal("helios", load.Format);
        Assert.Equal(
            [
                new TraceJob("u1", Unix(2020, 4, 1, 0, 0, 10), Unix(2020, 4, 1, 2, 0, 10), "V100-SXM2", 8, null, null, new TraceLocation(_folder.Combine("helios.csv"), 2)),
                new TraceJob("u1", Unix(2020, 4, 1, 0, 3, 0), Unix(2020, 4, 1, 0, 4, 0), "V100-SXM2", 1, null, null, new TraceLocation(_folder.Combine("helios.csv"), 5)),
            ],
            load.Jobs);
        Assert.Equal(
            new Dictionary<string, long> { ["never started (no start_time or end_time)"] = 1, ["no accelerators (count 0)"] = 1 },
            load.RowsFiltered);
        Assert.Equal(4, load.RowsRead);
        Assert.Contains(load.Assumptions, a => a.Contains("V100-SXM2", StringComparison.Ordinal));
    }

    [Fact]
    public void Acme_rows_take_their_type_as_workload_class_and_the_accelerator_from_the_options()
    {
        var path = _folder.WriteLines("acme.csv",
            "job_id,user,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue,type,gpu_time",
            "1,u1,8,48,1,COMPLETED,2023-03-01 00:00:00,2023-03-01 00:00:10,2023-03-01 01:00:10,3600,q,Pretrain,28800");

        var load = TraceFormats.Load(path, null, new TraceReadOptions { Accelerator = "A100" });

        var job = Assert.Single(load.Jobs);
        Assert.Equal(("A100", 8, "Pretrain"), (job.AcceleratorModel, job.AcceleratorCount, job.WorkloadClass));
        Assert.Contains(load.Assumptions, a => a.Contains("A100 (--accelerator)", StringComparison.Ordinal));
    }

    [Fact]
    public void Pai_2020_joins_headerless_job_and_task_tables_with_plan_gpu_in_percent_and_maps_gpu_types()
    {
        // The published pai_job_table and pai_task_table have no header row.
        var jobs = _folder.WriteLines("pai_job_table.csv",
            "j1,i1,alice,Terminated,1000.0,4600.0",
            "j2,i2,bob,Terminated,2000.0,2600.0",
            "j3,i3,carol,Failed,1500.0,1800.0",
            "j4,i4,dave,Terminated,3000.0,3300.0",
            "j5,i5,erin,Terminated,100.0,200.0",
            "j6,i6,frank,Running,,",
            "j7,i7,gina,Terminated,500,900");
        var tasks = _folder.WriteLines("pai_task_table.csv",
            "j1,worker,2.0,Terminated,1000.0,4600.0,600.0,29.3,50.0,V100",
            "j1,ps,1.0,Terminated,1000.0,4600.0,400.0,10.0,,MISC",
            "j2,tensorflow,1.0,Terminated,2000.0,2600.0,600.0,29.3,25.0,T4",
            "j3,worker,4.0,Failed,1500.0,1800.0,600.0,29.3,100.0,P100",
            "j4,worker,1.0,Terminated,3000.0,3300.0,600.0,29.3,100.0,MISC",
            "j5,worker,1.0,Terminated,100.0,200.0,600.0,29.3,,",
            "j6,worker,1.0,Running,,,600.0,29.3,100.0,V100M32",
            "j7,worker,2.0,Terminated,500,900,600,29.3,150.0,V100M32");

        var load = TraceFormats.Load(jobs, "pai-2020", new TraceReadOptions { CompanionFile = tasks, Accelerator = "A100" });

        Assert.Equal("pai-2020", load.Format);
        Assert.Equal(
            [
                new TraceJob("gina", 500, 900, "V100-SXM2", 3, null, null, new TraceLocation(_folder.Combine("pai_job_table.csv"), 7)),
                new TraceJob("alice", 1000, 4600, "V100-SXM2", 1, null, null, new TraceLocation(_folder.Combine("pai_job_table.csv"), 1)),
                new TraceJob("carol", 1500, 1800, "P100-SXM2", 4, null, null, new TraceLocation(_folder.Combine("pai_job_table.csv"), 3)),
                new TraceJob("bob", 2000, 2600, "T4", 1, null, null, new TraceLocation(_folder.Combine("pai_job_table.csv"), 2)),
                new TraceJob("dave", 3000, 3300, "A100", 1, null, null, new TraceLocation(_folder.Combine("pai_job_table.csv"), 4)),
            ],
            load.Jobs);
        Assert.Equal(
            new Dictionary<string, long> { ["never started (no start_time or end_time)"] = 1, ["no GPU planned (CPU-only job, or no task rows)"] = 1 },
            load.RowsFiltered);
        Assert.Contains(load.Assumptions, a => a.Contains("MISC", StringComparison.Ordinal) && a.Contains("A100 (--accelerator)", StringComparison.Ordinal));
        Assert.Equal(["pai_job_table.csv", "pai_task_table.csv"], load.Files.Select(f => f.Name));
    }

    [Fact]
    public void Pai_2020_job_table_with_a_header_is_detected_and_read_the_same_way()
    {
        var jobs = _folder.WriteLines("pai_job_table.csv",
            "job_name,inst_id,user,status,start_time,end_time",
            "j1,i1,alice,Terminated,1000.0,4600.0");
        var tasks = _folder.WriteLines("pai_task_table.csv",
            "job_name,task_name,inst_num,status,start_time,end_time,plan_cpu,plan_mem,plan_gpu,gpu_type",
            "j1,worker,2.0,Terminated,1000.0,4600.0,600.0,29.3,100.0,V100M32");

        var load = TraceFormats.Load(jobs, "auto", new TraceReadOptions { CompanionFile = tasks });

        Assert.Equal("pai-2020", load.Format);
        Assert.Equal([new TraceJob("alice", 1000, 4600, "V100-SXM2", 2, null, null, new TraceLocation(_folder.Combine("pai_job_table.csv"), 2))], load.Jobs);
    }

    [Fact]
    public void Pai_2020_without_its_task_table_names_the_option()
    {
        var jobs = _folder.WriteLines("pai_job_table.csv", "j1,i1,alice,Terminated,1000.0,4600.0");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(jobs, "pai-2020", new TraceReadOptions()));

        Assert.Contains("--task-table", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Philly_json_makes_a_job_of_each_attempt_that_ran_and_filters_none_times()
    {
        var path = _folder.WriteLines("cluster_job_log.json",
            "[",
            """  {"status": "Pass", "vc": "6214e9", "jobid": "application_1", "submitted_time": "2017-10-03 09:59:00", "user": "alice", "attempts": [{"start_time": "2017-10-03 10:00:00", "end_time": "2017-10-03 11:00:00", "detail": [{"ip": "m1", "gpus": ["gpu0", "gpu1"]}, {"ip": "m2", "gpus": ["gpu3"]}]}]},""",
            """  {"status": "Killed", "vc": "6214e9", "jobid": "application_2", "submitted_time": "2017-10-03 09:00:00", "user": "bob", "attempts": [{"start_time": "None", "end_time": "None", "detail": []}]},""",
            """  {"status": "Failed", "vc": "ed69ec", "jobid": "application_3", "submitted_time": "2017-10-03 09:00:00", "user": "carol", "attempts": []},""",
            """  {"status": "Failed", "vc": "ed69ec", "jobid": "application_4", "submitted_time": "2017-10-03 07:59:00", "user": "dave", "attempts": [""",
            """    {"start_time": "2017-10-03 08:00:00", "end_time": "2017-10-03 08:30:00", "detail": [{"ip": "m3", "gpus": ["gpu0"]}]},""",
            """    {"start_time": "2017-10-03 09:00:00", "end_time": "None", "detail": [{"ip": "m3", "gpus": ["gpu0"]}]},""",
            """    {"start_time": "2017-10-03 12:00:00", "end_time": "2017-10-03 13:00:00", "detail": [{"ip": "m4", "gpus": ["gpu0", "gpu1", "gpu2", "gpu3"]}]}]}""",
            "]");

        var load = TraceFormats.Load(path, null, new TraceReadOptions());

        Assert.Equal("philly-json", load.Format);
        Assert.Equal(
            [
                new TraceJob("dave", Unix(2017, 10, 3, 8, 0, 0), Unix(2017, 10, 3, 8, 30, 0), "P100-SXM2", 1, null, "Failed", new TraceLocation(_folder.Combine("cluster_job_log.json"), 5)),
                new TraceJob("alice", Unix(2017, 10, 3, 10, 0, 0), Unix(2017, 10, 3, 11, 0, 0), "P100-SXM2", 3, null, "Pass", new TraceLocation(_folder.Combine("cluster_job_log.json"), 2)),
                new TraceJob("dave", Unix(2017, 10, 3, 12, 0, 0), Unix(2017, 10, 3, 13, 0, 0), "P100-SXM2", 4, null, "Failed", new TraceLocation(_folder.Combine("cluster_job_log.json"), 5)),
            ],
            load.Jobs);
        Assert.Equal(
            new Dictionary<string, long>
            {
                ["never started (attempt without start_time or end_time)"] = 2,
                ["never started (no attempts)"] = 1,
            },
            load.RowsFiltered);
        Assert.Equal(6, load.RowsRead);
        Assert.Contains(load.Assumptions, a => a.Contains("P100-SXM2", StringComparison.Ordinal));
    }

    [Fact]
    public void Unsorted_input_comes_out_sorted_by_start_with_ties_in_file_order()
    {
        var path = _folder.WriteLines("jobs.csv",
            "account,start,end,accelerator,count",
            "b,200,300,T4,1",
            "a,100,300,T4,1",
            "c,100,150,T4,1",
            "d,50,60,T4,1",
            "e,100,120,T4,1");

        var load = TraceFormats.Load(path, null, new TraceReadOptions());

        Assert.Equal(["d", "a", "c", "e", "b"], load.Jobs.Select(j => j.Account));
        Assert.Equal([5L, 3, 4, 6, 2], load.Jobs.Select(j => j.Line.Line));
    }

    [Fact]
    public void The_shared_public_traces_load_with_no_bad_row()
    {
        // Without --skip-bad-rows the first bad row would throw: every row is a job or left out for a reason.
        foreach (var path in new[] { SharedTraces.Philly, SharedTraces.Lora })
        {
            var load = TraceFormats.Load(path, null, new TraceReadOptions());

            Assert.Empty(load.RowsSkipped);
            Assert.Equal(load.RowsRead, load.Jobs.Count + load.RowsFiltered.Values.Sum());
            Assert.True(load.Jobs.Count > 20_000, $"{Path.GetFileName(path)}: {load.Jobs.Count} jobs");
        }
    }

    [Fact]
    public void A_slice_of_one_job_says_so_in_the_singular()
    {
        var path = _folder.WriteLines("jobs.csv", "account,start,end,accelerator,count", "a,100,300,T4,1", "b,200,300,T4,1", "c,250,300,T4,1");

        var load = TraceFormats.Load(path, null, new TraceReadOptions());

        Assert.Equal("Only the first of the trace's 3 jobs (in start order) is replayed.", load.Take(1).Assumptions[^1]);
        Assert.Equal("Only the first 2 of the trace's 3 jobs (in start order) are replayed.", load.Take(2).Assumptions[^1]);
    }

    [Fact]
    public async Task A_trace_whose_rows_are_all_left_out_has_nothing_to_replay_and_the_error_says_what_became_of_the_rows()
    {
        var path = _folder.WriteLines("zero.csv", "account,start,end,accelerator,count", "a,2024-01-01T00:00:00Z,2024-01-01T01:00:00Z,H100-SXM,0");
        var load = TraceFormats.Load(path, null, new TraceReadOptions());

        var error = Assert.Throws<EmptyTraceException>(load.EnsureJobs);
        // The replay itself refuses it the same way (it has no span, no users, nothing to chart).
        var replay = await Assert.ThrowsAsync<EmptyTraceException>(() => ReplayRun.InProcessAsync(load, new ReplayOptions { Policy = DefaultPolicy.Document }));

        Assert.Empty(load.Jobs);
        Assert.Equal("the trace has no GPU jobs to replay: 1 row read, 1 left out (no accelerators (count 0))", error.Message);
        Assert.Equal(error.Message, replay.Message);
    }

    [Fact]
    public void A_trace_without_jobs_names_each_reason_with_its_count_and_the_rows_skipped()
    {
        var path = _folder.WriteLines("none.csv",
            "account,start,end,accelerator,count",
            "a,1700000000,1700000600,H100-SXM,0",
            "b,1700000000,1700000000,H100-SXM,1",
            "c,1700000000,1700000000,H100-SXM,2",
            "d,yesterday,1700000600,H100-SXM,1");
        var load = TraceFormats.Load(path, null, new TraceReadOptions { SkipBadRows = true });

        var error = Assert.Throws<EmptyTraceException>(load.EnsureJobs);

        Assert.Equal("the trace has no GPU jobs to replay: 4 rows read, 3 left out (no accelerator time (zero duration): 2; no accelerators (count 0): 1), "
            + "1 malformed row skipped (column 2 (start): neither Unix seconds nor a date and time)", error.Message);
    }

    public static TheoryData<string, string, string> DetectionCases => new()
    {
        { "jobs.csv", "account,start,end,accelerator,count", "csv" },
        { "lora.csv", "gmt_create,predict_type,predict_status,exec_time_seconds,groupId,prompt_length,negative_prompt_length,num_images_per_prompt,num_inference_steps,checkpoint_model_version_id,num_lora", "alibaba-lora" },
        { "chronus.csv", "job_id,user,num_gpu,submit_time,iterations,model_name,duration,interval,expect_time_list,expect_value_list,best_effort,job_type", "philly-chronus" },
        { "helios.csv", "job_id,user,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue", "helios" },
        { "acme.csv", "job_id,user,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue,type,gpu_time", "helios" },
        { "pai_job_table.csv", "job_name,inst_id,user,status,start_time,end_time", "pai-2020" },
        { "jobs.jsonl", """{"account":"a","start":1,"end":2}""", "jsonl" },
        { "jobs.NDJSON", """{"account":"a","start":1,"end":2}""", "jsonl" },
        { "cluster_job_log.json", "[]", "philly-json" },
    };

    [Theory]
    [MemberData(nameof(DetectionCases))]
    public void Auto_detection_goes_by_extension_then_by_csv_header(string name, string firstLine, string expected)
    {
        var path = _folder.WriteLines(name, firstLine);

        Assert.Equal(expected, TraceFormats.Detect(path).Name);
    }

    [Fact]
    public void An_unknown_header_gives_a_message_naming_the_format_option_and_the_formats()
    {
        var path = _folder.WriteLines("mystery.csv", "when,who,what", "1,a,b");

        var error = Assert.Throws<TraceFormatException>(() => TraceFormats.Load(path, "auto", new TraceReadOptions()));

        Assert.StartsWith(_folder.About("mystery.csv:1: cannot tell the trace format from the header (when,who,what"), error.Message, StringComparison.Ordinal);
        Assert.Contains("give --format", error.Message, StringComparison.Ordinal);
        foreach (var format in TraceFormats.All)
        {
            Assert.Contains(format.Name, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void An_unknown_format_name_lists_the_known_ones()
    {
        var path = _folder.WriteLines("jobs.csv", "account,start,end,accelerator,count");

        var error = Assert.Throws<ArgumentException>(() => TraceFormats.Load(path, "slurm", new TraceReadOptions()));

        Assert.Contains("unknown trace format 'slurm'", error.Message, StringComparison.Ordinal);
        Assert.Contains("philly-json", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var path = _folder.Combine("absent.csv");

        var error = Assert.Throws<FileNotFoundException>(() => TraceFormats.Load(path, null, new TraceReadOptions()));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    private static long Unix(int year, int month, int day, int hour, int minute, int second) =>
        new DateTimeOffset(year, month, day, hour, minute, second, TimeSpan.Zero).ToUnixTimeSeconds();
}
