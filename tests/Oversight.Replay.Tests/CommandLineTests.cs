using System.Diagnostics;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Oversight.Policy.Accelerators;
using Oversight.Policy.Documents;
using Oversight.Replay.Cli;
using Oversight.Replay.Reports;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Oversight.Replay.Tests;

/// <summary>
/// oversight-replay as a user runs it: a separate process (dotnet oversight-replay.dll) started in
/// a temp folder, with --out given, reading its exit code, stdout and stderr.
/// </summary>
public sealed partial class CommandLineTests : IDisposable
{
    private const string NotATime = "is neither Unix seconds nor a date and time such as 2024-11-15 16:57:50";
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Run_help_lists_every_option_of_the_run_settings_and_an_example()
    {
        var longNames = typeof(RunSettings).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => p.GetCustomAttribute<CommandOptionAttribute>())
            .OfType<CommandOptionAttribute>()
            .SelectMany(a => a.LongNames)
            .ToArray();

        var (exitCode, stdout, _) = await CliAsync("run", "--help");

        Assert.Equal(0, exitCode);
        Assert.True(longNames.Length >= 20, $"expected the run settings' options, found {string.Join(", ", longNames)}");
        Assert.All(longNames, name => Assert.Matches($"(?<![\\w-])--{Regex.Escape(name)}(?![\\w-])", stdout));
        // Help wraps long lines at the terminal's width, so compare with whitespace runs made single spaces.
        var help = Whitespace().Replace(stdout, " ");
        Assert.Contains("EXAMPLES:", help, StringComparison.Ordinal);
        Assert.Contains("oversight-replay run --trace ../shared/traces/philly-chronus/trace_job_Philly_MIX1.csv --out replay-out/philly", help, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_written_to_a_file_or_a_pipe_keeps_option_descriptions_readable()
    {
        // Redirected output has no width: at Spectre's 80 columns the descriptions got a column of a few words.
        var (exitCode, stdout, _) = await CliAsync("run", "--help");

        Assert.Equal(0, exitCode);
        Assert.Contains("Skip malformed rows (counted by reason in the report)", stdout, StringComparison.Ordinal);
        Assert.Contains("Trace file to replay (required). Example:", stdout, StringComparison.Ordinal);
        Assert.Contains("Accelerators per job for traces without a count", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("run")]
    [InlineData("sweep")]
    [InlineData("what-if")]
    public async Task A_trace_without_jobs_exits_2_with_one_line_saying_what_became_of_its_rows(string command)
    {
        _folder.WriteLines("zero.csv", "account,start,end,accelerator,count", "a,2024-01-01T00:00:00Z,2024-01-01T01:00:00Z,H100-SXM,0");

        var (exitCode, stdout, stderr) = await CliAsync(command, "--trace", "zero.csv", "--out", "out", "--no-progress");

        Assert.Equal(2, exitCode);
        Assert.Contains("error: the trace has no GPU jobs to replay: 1 row read, 1 left out (no accelerators (count 0))\n", stderr.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.DoesNotContain("Sequence contains", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("wrote", stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_folder.Combine("out")), "no output folder for a trace without jobs");
    }

    [Fact]
    public async Task One_row_one_job_and_one_account_are_counted_in_the_singular()
    {
        _folder.WriteLines("one.csv", "account,start,end,accelerator,count", "alice,1700000000,1700003600,H100-SXM,1");

        var (exitCode, stdout, stderr) = await CliAsync("run", "--trace", "one.csv", "--out", "out", "--no-progress");

        Assert.True(exitCode == 0, stderr);
        Assert.Contains("csv: 1 row, 1 job\n", stderr.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("0 of 1 trace account (0.0%) asked to state a purpose", stdout, StringComparison.Ordinal);
        Assert.Contains("0 trace accounts denied at least once", stdout, StringComparison.Ordinal);
        var report = File.ReadAllText(_folder.Combine(Path.Combine("out", "report.html")));
        Assert.Contains("1 user (1 pseudonym) ran 1 job from", report, StringComparison.Ordinal);
        Assert.Contains("1 row read, 1 job replayed.", report, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sweep_shows_every_step_up_of_the_ladder_on_the_console_and_in_sweep_html()
    {
        _folder.WriteLines("jobs.csv", "account,start,end,accelerator,count", "alice,1700000000,1700003600,H100-SXM,8", "bob,1700000000,1700003600,T4,1");

        var (exitCode, stdout, stderr) = await CliAsync("sweep", "--trace", "jobs.csv", "--out", "out", "--no-progress", "--scales", "0.001,1");

        Assert.True(exitCode == 0, stderr);
        foreach (var label in new[] { "state a purpose", "verify identity", "verify organisation" })
        {
            Assert.Contains(label, stdout, StringComparison.Ordinal);
        }

        var html = File.ReadAllText(_folder.Combine(Path.Combine("out", "sweep.html")));
        Assert.Contains("<th>asked to state a purpose</th><th>compute covered</th><th>asked to verify identity</th><th>compute covered</th>"
            + "<th>asked to verify organisation</th><th>compute covered</th>", html, StringComparison.Ordinal);
        Assert.Contains("2 policies replayed", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_sweep_table_fits_80_columns_with_three_step_ups_and_gives_each_ones_shares()
    {
        // The example policy asks for every step-up, organisation included.
        var policy = PolicyLoader.Load(File.ReadAllText(Path.Combine(SharedTraces.RepositoryRoot, "tools", "replay", "examples", "every-verdict.yaml")));
        var trace = SharedTraces.LoadPhilly().Take(300);
        var points = await PolicySweep.RunAsync(trace, new ReplayOptions { Policy = policy }, PolicySweep.ScaleGrid(policy, "every-verdict.yaml", [0.001m, 1m]), parallelism: 2);
        Assert.Contains(points, p => p.AskedShare[Policy.RequirementKind.Organisation] > 0);

        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 80;
        console.Write(SweepCommand.TradeOffTable(points));
        var lines = writer.ToString().ReplaceLineEndings("\n").Split('\n');

        Assert.All(lines, line => Assert.True(line.TrimEnd().Length <= 80, $"wider than 80 columns: {line}"));
        Assert.Contains(lines, line => line.Contains("state a purpose", StringComparison.Ordinal) && line.Contains("verify organisation", StringComparison.Ordinal));
        foreach (var point in points)
        {
            var row = Assert.Single(lines, line => line.Contains($" {point.Label} ", StringComparison.Ordinal));
            var cells = ReportFacts.StepUps.Select(k => $"{ReportFacts.Percent(point.AskedShare[k]),6} / {ReportFacts.Percent(point.CoveredShare[k]),6}");
            Assert.Matches(string.Join(@"\s*│\s*", cells.Select(Regex.Escape)), row);
        }
    }

    [Fact]
    public async Task Accelerators_named_in_the_help_examples_are_in_the_catalogue()
    {
        var named = new List<string>();
        foreach (var command in new[] { "run", "sweep", "what-if" })
        {
            var (exitCode, stdout, _) = await CliAsync(command, "--help");

            Assert.Equal(0, exitCode);
            var help = Whitespace().Replace(stdout, " ");
            var examples = help[help.IndexOf("EXAMPLES:", StringComparison.Ordinal)..help.IndexOf("OPTIONS:", StringComparison.Ordinal)];
            named.AddRange(AcceleratorOption().Matches(examples).Select(m => m.Groups[1].Value));
        }

        Assert.NotEmpty(named);
        Assert.All(named, model => Assert.True(AcceleratorCatalogue.Default.TryGet(model, out _), $"the example's --accelerator {model} is not in the catalogue, so the example fails"));
    }

    [Fact]
    public async Task Run_on_a_bad_row_exits_2_with_file_line_column_and_reason_and_writes_no_output()
    {
        _folder.WriteLines("bad.csv",
            "account,start,end,accelerator,count",
            "alice,1700000000,1700000600,H100-SXM,1",
            "bob,yesterday,1700000600,H100-SXM,1");

        var (exitCode, stdout, stderr) = await CliAsync("run", "--trace", "bad.csv", "--out", "out", "--no-progress");

        Assert.Equal(2, exitCode);
        Assert.Contains($"error: bad.csv:3, column 2 (start): 'yesterday' {NotATime}", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("wrote", stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_folder.Combine("out")), "no output folder after a bad row");
    }

    [Theory]
    [InlineData("march/jobs.csv", "error: march/jobs.csv:3, column 2 (start): 'yesterday' " + NotATime)]
    [InlineData("march/jobs.jsonl", "error: march/jobs.jsonl:2: each line must hold one JSON object")]
    [InlineData("march/jobs.json", "error: march/jobs.json:1: expected a JSON array of jobs")]
    [InlineData("march/jobs.parquet", "error: march/jobs.parquet: not a readable Parquet file")]
    [InlineData("march/odd.csv", "error: march/odd.csv:1: cannot tell the trace format from the header")]
    public async Task An_error_in_a_trace_names_the_file_as_given_so_that_files_of_one_name_are_told_apart(string trace, string expected)
    {
        // The same names, well formed, in another folder: the message must say which file is at fault.
        foreach (var folder in new[] { "february", "march" })
        {
            Directory.CreateDirectory(_folder.Combine(folder));
        }

        _folder.WriteLines(Path.Combine("february", "jobs.csv"), "account,start,end,accelerator,count", "alice,1700000000,1700000600,H100-SXM,1");
        _folder.WriteLines(Path.Combine("march", "jobs.csv"), "account,start,end,accelerator,count", "alice,1700000000,1700000600,H100-SXM,1", "bob,yesterday,1700000600,H100-SXM,1");
        _folder.WriteLines(Path.Combine("march", "jobs.jsonl"), """{"account":"alice","start":1700000000,"end":1700000600,"accelerator":"H100-SXM","count":1}""", "[1, 2]");
        _folder.WriteLines(Path.Combine("march", "jobs.json"), """{"jobs": []}""");
        _folder.WriteLines(Path.Combine("march", "jobs.parquet"), "not parquet");
        _folder.WriteLines(Path.Combine("march", "odd.csv"), "who,when,what", "alice,1700000000,H100-SXM");

        var (exitCode, stdout, stderr) = await CliAsync("run", "--trace", trace, "--out", "out", "--no-progress");

        Assert.Equal(2, exitCode);
        Assert.StartsWith(expected, stderr[stderr.IndexOf("error: ", StringComparison.Ordinal)..], StringComparison.Ordinal);
        Assert.DoesNotContain("wrote", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_error_in_the_pai_task_table_names_it_as_given()
    {
        Directory.CreateDirectory(_folder.Combine("pai"));
        _folder.WriteLines(Path.Combine("pai", "pai_job_table.csv"), "job_name,inst_id,user,status,start_time,end_time", "j1,i1,alice,Terminated,1700000000,1700003600");
        _folder.WriteLines(Path.Combine("pai", "pai_task_table.csv"), "job_name,task_name,inst_num,status,start_time,end_time,plan_cpu,plan_mem,plan_gpu,gpu_type", "j1,worker,1,Terminated,1700000000,1700003600,600,29,-50,V100");

        var (exitCode, _, stderr) = await CliAsync("run", "--trace", "pai/pai_job_table.csv", "--task-table", "pai/pai_task_table.csv", "--out", "out", "--no-progress");

        Assert.Equal(2, exitCode);
        Assert.Contains("error: pai/pai_task_table.csv:2, column 9 (plan_gpu): must not be negative", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--abandon-purpse", "0.5")] // misspelled: the run would use the default and say nothing
    [InlineData("--scales", "0.1")] // another command's option
    public async Task An_unknown_option_exits_2_naming_it_and_writes_no_output(string option, string value)
    {
        _folder.WriteLines("one.csv", "account,start,end,accelerator,count", "alice,1700000000,1700000600,H100-SXM,1");

        var (exitCode, stdout, stderr) = await CliAsync("run", "--trace", "one.csv", "--out", "out", "--no-progress", option, value);

        Assert.Equal(2, exitCode);
        Assert.Contains($"Unknown option '{option[2..]}'", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("wrote", stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_folder.Combine("out")), "no output folder after an unknown option");
    }

    [Theory]
    [InlineData("run", "--seed", "abc", "error: --seed: 'abc' is not a whole number")]
    [InlineData("run", "--seed=abc", null, "error: --seed: 'abc' is not a whole number")]
    [InlineData("run", "--seed", "99999999999", "error: --seed: '99999999999' is out of range: a whole number from -2147483648 to 2147483647")]
    [InlineData("run", "--delay-purpose", "5m", "error: --delay-purpose: '5m' is not a whole number")]
    [InlineData("run", "--accelerator-count", "two", "error: --accelerator-count: 'two' is not a whole number")]
    [InlineData("run", "--utilisation", "high", "error: --utilisation: 'high' is not a number")]
    [InlineData("run", "--abandon-purpose", "half", "error: --abandon-purpose: 'half' is not a number")]
    [InlineData("sweep", "--parallel", "all", "error: --parallel: 'all' is not a whole number")]
    [InlineData("live", "--limit", "1k", "error: --limit: '1k' is not a whole number")]
    public async Task An_option_value_of_the_wrong_kind_exits_2_naming_the_option_and_what_it_takes(string command, string option, string? value, string expected)
    {
        _folder.WriteLines("one.csv", "account,start,end,accelerator,count", "alice,1700000000,1700000600,H100-SXM,1");

        var (exitCode, stdout, stderr) = await CliAsync([command, "--trace", "one.csv", "--out", "out", "--no-progress", option, .. value is null ? Array.Empty<string>() : [value]]);

        Assert.Equal(2, exitCode);
        Assert.Equal(expected + "\n", stderr.ReplaceLineEndings("\n"));
        Assert.Equal("", stdout);
        Assert.False(Directory.Exists(_folder.Combine("out")), "no output folder after a bad option value");
    }

    [Theory]
    [InlineData("simulate", "--compare")] // the simulation compares with nothing
    [InlineData("simulate", "--set-policy")] // it plays the deployment's policy
    [InlineData("simulate", "--policy", "my-policy.yaml")]
    [InlineData("simulate", "--utilisation", "0.5")] // the deployment's policy gives the utilisation
    [InlineData("simulate", "--admin-token", "admin.jwt")] // it sets neither the clock nor the policy
    [InlineData("simulate", "--sybil-split", "2")] // --users-per-account makes its pseudonyms
    [InlineData("simulate", "--sybil-linked")]
    [InlineData("live", "--sybil-linked")] // linked pseudonyms are not replayed live
    [InlineData("live", "--parallel", "2")]
    [InlineData("run", "--parallel", "2")]
    [InlineData("sweep", "--verdict-log")]
    [InlineData("sweep", "--abandon", "0.1")]
    [InlineData("what-if", "--verdict-log")]
    [InlineData("what-if", "--scales", "0.1")]
    [InlineData("what-if", "--limit", "10")]
    public async Task A_command_rejects_an_option_it_does_not_use_before_anything_runs(string command, params string[] option)
    {
        var (exitCode, stdout, stderr) = await CliAsync([command, "--trace", "missing.csv", "--out", "out", "--no-progress", .. option]);

        Assert.Equal(2, exitCode);
        Assert.Contains($"Unknown option '{option[0][2..]}'", stderr, StringComparison.Ordinal);
        Assert.Equal("", stdout);
        Assert.False(Directory.Exists(_folder.Combine("out")), "no output folder after an unknown option");
    }

    [Fact]
    public async Task What_if_help_says_which_scenarios_the_abandonment_and_sybil_options_of_run_apply_to()
    {
        var (exitCode, stdout, _) = await CliAsync("what-if", "--help");

        Assert.Equal(0, exitCode);
        var help = Whitespace().Replace(stdout, " ");
        foreach (var option in new[] { "--abandon-purpose", "--abandon-identity", "--abandon-organisation" })
        {
            Assert.Matches($"{option} <P> .{{0,200}}?Only in the sybil scenarios: the abandonment scenarios set every step-up's from --abandon", help);
        }

        Assert.Matches("--sybil-split <K> 1 .{0,200}?Only in the abandonment scenarios: the sybil scenarios set it from --sybil", help);
        Assert.Contains("Only in the abandonment scenarios: the sybil scenarios replay each split of --sybil without and with links", help, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("run", "--policy", "missing.yaml", "error: no policy file at missing.yaml")]
    [InlineData("run", "--policy", "negative.yaml", "error: policy: negative.yaml: 'ladder[0].limits.24h.flop_units' must not be negative")]
    [InlineData("sweep", "--policies", "negative.yaml", "error: policy: negative.yaml: 'ladder[0].limits.24h.flop_units' must not be negative")]
    [InlineData("run", "--accelerator", "Z9", "error: --accelerator 'Z9' is not in the catalogue (known: ")]
    public async Task A_bad_policy_file_or_accelerator_exits_2_naming_it_before_the_trace_is_read(string command, string option, string file, string expected)
    {
        _folder.WriteLines("one.csv", "account,start,end,accelerator,count", "alice,1700000000,1700000600,H100-SXM,1");
        _folder.WriteLines("negative.yaml",
            "windows:",
            "  - id: 24h",
            "    length_seconds: 86400",
            "    bucket_seconds: 3600",
            "ladder:",
            "  - id: anonymous",
            "    display_name: Anonymous",
            "    requirement: none",
            "    limits:",
            "      24h:",
            "        flop_units: -5");

        var (exitCode, stdout, stderr) = await CliAsync(command, "--trace", "one.csv", "--out", "out", "--no-progress", option, file);

        Assert.Equal(2, exitCode);
        Assert.StartsWith(expected, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Reading the trace", stderr + stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_folder.Combine("out")), "no output folder after a bad policy");
    }

    [Fact]
    public async Task Run_with_skip_bad_rows_exits_0_and_reports_the_skipped_rows_by_reason()
    {
        _folder.WriteLines("bad.csv",
            "account,start,end,accelerator,count",
            "alice,1700000000,1700000600,H100-SXM,1",
            "bob,yesterday,1700000600,H100-SXM,1",
            "carol,1700000100,1700000700,T4,2");

        var (exitCode, _, stderr) = await CliAsync("run", "--trace", "bad.csv", "--out", "out", "--no-progress", "--skip-bad-rows");

        Assert.True(exitCode == 0, stderr);
        using var summary = JsonDocument.Parse(File.ReadAllText(_folder.Combine(Path.Combine("out", "summary.json"))));
        var trace = summary.RootElement.GetProperty("trace");
        Assert.Equal(1, trace.GetProperty("rows_skipped").GetProperty("column 2 (start): neither Unix seconds nor a date and time").GetInt64());
        Assert.Equal($"bad.csv:3, column 2 (start): 'yesterday' {NotATime}", Assert.Single(trace.GetProperty("bad_row_examples").EnumerateArray()).GetString());
        Assert.Equal((3L, 2L), (trace.GetProperty("rows_read").GetInt64(), trace.GetProperty("jobs").GetInt64()));
    }

    [Fact]
    public async Task Utilisation_option_replaces_the_policys_in_estimates_and_is_reported_and_checked()
    {
        // One H100 hour: 989 TFLOP/s x 3,600 s x U units of 10^12 FLOP.
        _folder.WriteLines("one.csv", "account,start,end,accelerator,count", "alice,1700000000,1700003600,H100-SXM,1");

        var (exitCode, _, stderr) = await CliAsync("run", "--trace", "one.csv", "--out", "out", "--no-progress", "--utilisation", "0.25");
        Assert.True(exitCode == 0, stderr);
        using var summary = JsonDocument.Parse(File.ReadAllText(_folder.Combine(Path.Combine("out", "summary.json"))));
        Assert.Equal(890_100, summary.RootElement.GetProperty("results").GetProperty("compute").GetProperty("flop_units_requested").GetInt64());
        Assert.Equal("default, utilisation 0.25 (--utilisation)", summary.RootElement.GetProperty("policy").GetProperty("source").GetString());

        var (refused, _, error) = await CliAsync("run", "--trace", "one.csv", "--out", "out2", "--no-progress", "--utilisation", "1.5");
        Assert.Equal(2, refused);
        Assert.Contains("--utilisation must be above 0 and at most 1", error);
    }

    [Fact]
    public async Task Run_on_the_philly_trace_writes_the_report_files_and_names_them()
    {
        var (exitCode, stdout, stderr) = await CliAsync("run", "--trace", SharedTraces.Philly, "--out", "out", "--no-progress");

        Assert.True(exitCode == 0, stderr);
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(SharedTraces.Philly)));
        foreach (var name in new[] { "summary.json", "accounts.csv", "report.html" })
        {
            Assert.True(File.Exists(_folder.Combine(Path.Combine("out", name))), $"{name} was not written");
            Assert.Contains($"wrote {Path.Combine("out", name)}", stdout, StringComparison.Ordinal);
        }

        var report = File.ReadAllText(_folder.Combine(Path.Combine("out", "report.html")));
        Assert.True(Regex.Count(report, "<svg[ >]") >= 3, "report.html should hold its charts as inline SVG");
        Assert.Contains(sha256, report, StringComparison.Ordinal);
        using var summary = JsonDocument.Parse(File.ReadAllText(_folder.Combine(Path.Combine("out", "summary.json"))));
        Assert.Equal(sha256, summary.RootElement.GetProperty("trace").GetProperty("files")[0].GetProperty("sha256").GetString());
        var accounts = File.ReadAllLines(_folder.Combine(Path.Combine("out", "accounts.csv")));
        Assert.Equal(summary.RootElement.GetProperty("results").GetProperty("users").GetInt64() + 1, accounts.Length);
    }

    [Fact]
    public async Task Formats_lists_all_eight_formats()
    {
        string[] expected = ["csv", "jsonl", "parquet", "alibaba-lora", "philly-chronus", "helios", "pai-2020", "philly-json"];

        var (exitCode, stdout, _) = await CliAsync("formats");

        Assert.Equal(0, exitCode);
        Assert.Equal(expected, TraceFormats.All.Select(f => f.Name));
        // The first cell of each table row.
        var listed = stdout.Split('\n').Select(line => line.Split(['│', '|', ' ', '\r'], StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()).ToHashSet();
        Assert.All(expected, name => Assert.Contains(name, listed));
    }

    /// <summary>Runs the real program in this test's temp folder and collects what it printed.</summary>
    private async Task<(int ExitCode, string Stdout, string Stderr)> CliAsync(params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = _folder.Path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "oversight-replay.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["NO_COLOR"] = "1";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"oversight-replay {string.Join(' ', args)} did not finish in 3 minutes");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"--accelerator (\S+)")]
    private static partial Regex AcceleratorOption();
}
