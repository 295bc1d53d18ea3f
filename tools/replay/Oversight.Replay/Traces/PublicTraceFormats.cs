using System.Globalization;

namespace Oversight.Replay.Traces;

/// <summary>
/// Alibaba GenAI LoRA serving trace (alibaba/clusterdata, cluster-trace-v2026-GenAI,
/// lora_request_trace.csv): one text-to-image request per row. Account = <c>groupId</c>, start =
/// <c>gmt_create</c> (UTC), duration = <c>exec_time_seconds</c> (GPU busy time, rounded up), workload
/// class = <c>predict_type</c>. Requests of every status count (a failed request used the GPU
/// too); a request with no GPU time is filtered. The trace has no GPU model or count.
/// </summary>
public sealed class AlibabaLoraFormat : ITraceFormat
{
    public string Name => "alibaba-lora";

    public string Description => "Alibaba GenAI LoRA request trace (groupId = account, gmt_create, exec_time_seconds)";

    public bool Recognises(IReadOnlyList<string> header) =>
        header.Contains("groupId", StringComparer.OrdinalIgnoreCase) && header.Contains("exec_time_seconds", StringComparer.OrdinalIgnoreCase);

    public void Read(string path, TraceCollector collector)
    {
        var model = JobRules.Accelerator(collector, "A100", "a serving GPU of the trace's period");
        var count = collector.Options.AcceleratorCount ?? 1;
        collector.Assume($"The trace gives no accelerator count: every request is taken to use {count} (--accelerator-count).");
        collector.Assume("Each request runs from its gmt_create time for exec_time_seconds (rounded up to whole seconds); queueing before execution is not in the trace.");
        collector.Assume("Every request with execution time counts as GPU use, whatever its predict_status: a FAILED request held its GPU for its exec_time_seconds too.");
        using var table = CsvTable.Open(path);
        while (table.Read())
        {
            try
            {
                table.CheckWidth();
                var seconds = table.Number("exec_time_seconds");
                if (seconds < 0)
                {
                    throw new TraceFormatException(table.Location("exec_time_seconds"), "execution time must not be negative");
                }

                var start = table.Time("gmt_create");
                JobRules.Add(collector, table.Location(), table.Required("groupId"), start, start + JobRules.CeilSeconds(seconds), model, count, null, table.Text("predict_type"));
            }
            catch (TraceFormatException e)
            {
                collector.Bad(e);
            }
        }
    }
}

/// <summary>
/// Philly-derived Chronus trace (S-Lab-System-Group/ChronusArtifact, trace_job_Philly_*.csv).
/// Account = <c>user</c> (a virtual cluster), start = trace start + <c>submit_time</c>, end = start +
/// <c>duration</c>, count = <c>num_gpu</c>, workload class = <c>model_name</c>. The trace is
/// compressed in time and has no GPU model.
/// </summary>
public sealed class PhillyChronusFormat : ITraceFormat
{
    /// <summary>The Philly trace begins in October 2017; relative times count from here unless --trace-start says otherwise.</summary>
    public static readonly long DefaultTraceStart = new DateTimeOffset(2017, 10, 3, 0, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds();

    public string Name => "philly-chronus";

    public string Description => "Philly-derived Chronus job trace (user, num_gpu, submit_time + duration in seconds)";

    public bool Recognises(IReadOnlyList<string> header) =>
        header.Contains("submit_time", StringComparer.OrdinalIgnoreCase) && header.Contains("num_gpu", StringComparer.OrdinalIgnoreCase)
        && header.Contains("duration", StringComparer.OrdinalIgnoreCase);

    public void Read(string path, TraceCollector collector)
    {
        var model = JobRules.Accelerator(collector, "P100-SXM2", "Philly ran 12 GB and 24 GB P100/P40-class GPUs");
        var origin = collector.Options.TraceStart ?? DefaultTraceStart;
        collector.Assume($"Submit times are seconds from the trace start, taken as {TraceTime.Format(origin)} (--trace-start); each job starts when submitted (no queueing).");
        // From the trace's own documentation (ChronusArtifact): findings per user and per day read differently.
        collector.Assume("Chronus traces are derived from Microsoft Philly by the Chronus authors, partly synthetic and compressed in time: "
            + "a day's windows see far more work than Philly's users ran in a day. Each user is a virtual cluster (a team), not a person.");
        using var table = CsvTable.Open(path);
        while (table.Read())
        {
            try
            {
                table.CheckWidth();
                var start = origin + NonNegative(table, "submit_time");
                var end = start + NonNegative(table, "duration");
                JobRules.Add(collector, table.Location(), table.Required("user"), start, end, model, NonNegative(table, "num_gpu"), null, table.Text("model_name"));
            }
            catch (TraceFormatException e)
            {
                collector.Bad(e);
            }
        }
    }

    internal static long NonNegative(CsvTable table, string column)
    {
        var value = table.Integer(column);
        return value >= 0 ? value : throw new TraceFormatException(table.Location(column), $"{value} is negative", "negative");
    }
}

/// <summary>
/// SenseTime Helios and Shanghai AI Lab Acme job traces (S-Lab-System-Group/HeliosData,
/// InternLM/AcmeTrace): CSV with <c>job_id, user, gpu_num, cpu_num, node_num, state, submit_time,
/// start_time, end_time, duration, queue</c> (Acme adds <c>type</c>, <c>gpu_time</c>). Account = <c>user</c>,
/// start/end = <c>start_time</c>/<c>end_time</c>, count = <c>gpu_num</c>, workload class = <c>type</c>
/// when present. CPU-only jobs and jobs that never started are filtered.
/// </summary>
public sealed class HeliosAcmeFormat : ITraceFormat
{
    public string Name => "helios";

    public string Description => "SenseTime Helios / Shanghai AI Lab Acme job trace (user, gpu_num, start_time, end_time)";

    public bool Recognises(IReadOnlyList<string> header) =>
        header.Contains("gpu_num", StringComparer.OrdinalIgnoreCase) && header.Contains("start_time", StringComparer.OrdinalIgnoreCase)
        && header.Contains("end_time", StringComparer.OrdinalIgnoreCase);

    public void Read(string path, TraceCollector collector)
    {
        var model = JobRules.Accelerator(collector, "V100-SXM2", "Helios ran V100-class GPUs; give --accelerator A100 for Acme");
        using var table = CsvTable.Open(path);
        while (table.Read())
        {
            try
            {
                table.CheckWidth();
                if (table.Text("start_time") is null || table.Text("end_time") is null)
                {
                    collector.Filter("never started (no start_time or end_time)", table.Text("user"));
                    continue;
                }

                JobRules.Add(collector, table.Location(), table.Required("user"), table.Time("start_time"), table.Time("end_time"), model,
                    PhillyChronusFormat.NonNegative(table, "gpu_num"), null, table.Text("type"));
            }
            catch (TraceFormatException e)
            {
                collector.Bad(e);
            }
        }
    }
}

/// <summary>
/// Alibaba PAI 2020 GPU trace (alibaba/clusterdata, cluster-trace-gpu-v2020): <c>pai_job_table</c>
/// (job_name, inst_id, user, status, start_time, end_time; Unix seconds) joined on job_name with
/// <c>pai_task_table</c> (given by --task-table: job_name, task_name, inst_num, status, start_time,
/// end_time, plan_cpu, plan_mem, plan_gpu, gpu_type). A job's accelerators = the sum over its tasks
/// of inst_num x plan_gpu / 100 (plan_gpu is in percent of one GPU), rounded up; its model = the
/// gpu_type of its largest task (T4, P100, V100, V100M32; MISC and unknown types take --accelerator).
/// Both tables may come with or without a header row (the published files have none).
/// </summary>
public sealed class Pai2020Format : ITraceFormat
{
    private static readonly string[] JobColumns = ["job_name", "inst_id", "user", "status", "start_time", "end_time"];
    private static readonly string[] TaskColumns = ["job_name", "task_name", "inst_num", "status", "start_time", "end_time", "plan_cpu", "plan_mem", "plan_gpu", "gpu_type"];

    private static readonly Dictionary<string, string> GpuTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["T4"] = "T4",
        ["P100"] = "P100-SXM2",
        ["V100"] = "V100-SXM2",
        ["V100M32"] = "V100-SXM2",
    };

    public string Name => "pai-2020";

    public string Description => "Alibaba PAI 2020 GPU trace: pai_job_table joined with pai_task_table (--task-table)";

    public bool Recognises(IReadOnlyList<string> header) =>
        header.Contains("inst_id", StringComparer.OrdinalIgnoreCase) && header.Contains("job_name", StringComparer.OrdinalIgnoreCase);

    public void Read(string path, TraceCollector collector)
    {
        var taskTable = collector.Options.CompanionFile
            ?? throw new TraceFormatException(new TraceLocation(path, 1), "the PAI 2020 job table needs its task table: give --task-table pai_task_table.csv");
        var fallback = collector.Options.Accelerator ?? "V100-SXM2";
        var tasks = ReadTasks(taskTable, collector);
        using var table = CsvTable.Open(path, JobColumns);
        while (table.Read())
        {
            try
            {
                table.CheckWidth();
                var job = table.Required("job_name");
                if (!tasks.TryGetValue(job, out var plan) || plan.GpuPercent <= 0)
                {
                    collector.Filter("no GPU planned (CPU-only job, or no task rows)", table.Text("user"));
                    continue;
                }

                if (table.Text("start_time") is null || table.Text("end_time") is null || table.Number("start_time") <= 0 || table.Number("end_time") <= 0)
                {
                    collector.Filter("never started (no start_time or end_time)", table.Text("user"));
                    continue;
                }

                if (plan.GpuType is not { } type || !GpuTypes.TryGetValue(type, out var model))
                {
                    model = fallback;
                    collector.Assume($"Jobs whose gpu_type is MISC, empty or unknown are taken to run on {fallback} (--accelerator).");
                }

                var count = (long)Math.Ceiling(plan.GpuPercent / 100.0);
                JobRules.Add(collector, table.Location(), table.Required("user"), table.Time("start_time"), table.Time("end_time"), model, count, null, null);
            }
            catch (TraceFormatException e)
            {
                collector.Bad(e);
            }
        }
    }

    private sealed class TaskPlan
    {
        public double GpuPercent { get; set; }

        public string? GpuType { get; set; }

        public double LargestTask { get; set; } = -1;
    }

    private static Dictionary<string, TaskPlan> ReadTasks(string path, TraceCollector collector)
    {
        var plans = new Dictionary<string, TaskPlan>(StringComparer.Ordinal);
        using var table = CsvTable.Open(path, TaskColumns);
        while (table.Read())
        {
            try
            {
                table.CheckWidth();
                var job = table.Required("job_name");
                var instances = table.Text("inst_num") is null ? 1 : table.Number("inst_num");
                var gpu = table.Text("plan_gpu") is null ? 0 : table.Number("plan_gpu");
                if (instances < 0 || gpu < 0)
                {
                    throw new TraceFormatException(table.Location(gpu < 0 ? "plan_gpu" : "inst_num"), "must not be negative");
                }

                if (!plans.TryGetValue(job, out var plan))
                {
                    plans[job] = plan = new TaskPlan();
                }

                var share = instances * gpu;
                plan.GpuPercent += share;
                if (share > plan.LargestTask)
                {
                    plan.LargestTask = share;
                    plan.GpuType = table.Text("gpu_type");
                }
            }
            catch (TraceFormatException e)
            {
                collector.Bad(e);
            }
        }

        collector.Assume(string.Create(CultureInfo.InvariantCulture, $"A job's accelerators are the sum of inst_num x plan_gpu / 100 over its {Wording.Count(plans.Count, "task group")}, rounded up; its model is its largest task's gpu_type."));
        return plans;
    }
}
