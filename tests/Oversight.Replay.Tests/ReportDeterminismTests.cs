using System.Text.Json;
using Oversight.Policy.Documents;
using Oversight.Replay.Reports;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Tests;

/// <summary>
/// Same trace, policy and seed: byte-identical output folders, as the command line writes them
/// (two independent replays each time, never one result written twice).
/// </summary>
public sealed class ReportDeterminismTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static ReplayOptions Options(int seed) => new()
    {
        Policy = DefaultPolicy.Document,
        Seed = seed,
        Behaviour = new UserBehaviour { AbandonAtPurpose = 0.3, AbandonAtIdentity = 0.3, AbandonAtOrganisation = 0.3 },
    };

    [Fact]
    public async Task A_run_written_twice_from_two_replays_gives_byte_identical_files()
    {
        var first = _folder.Combine("first");
        var second = _folder.Combine("second");

        var written = ReplayReports.WriteRun(first, await ReplayRun.InProcessAsync(SharedTraces.LoadPhilly(), Options(7)), SharedTraces.LoadPhilly(), "in-process");
        ReplayReports.WriteRun(second, await ReplayRun.InProcessAsync(SharedTraces.LoadPhilly(), Options(7)), SharedTraces.LoadPhilly(), "in-process");

        Assert.Equal(["summary.json", "accounts.csv", "report.html", "policy.yaml"], written.Select(Path.GetFileName));
        AssertSameFiles(first, second);
        // The run did meet the random choice: someone was asked, and someone left.
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(first, "summary.json")));
        Assert.True(summary.RootElement.GetProperty("results").GetProperty("users_abandoned").GetInt64() > 0);
    }

    [Fact]
    public async Task A_different_seed_changes_the_results_in_summary_json()
    {
        var seven = _folder.Combine("seven");
        var other = _folder.Combine("other");

        ReplayReports.WriteRun(seven, await ReplayRun.InProcessAsync(SharedTraces.LoadPhilly(), Options(7)), SharedTraces.LoadPhilly(), "in-process");
        ReplayReports.WriteRun(other, await ReplayRun.InProcessAsync(SharedTraces.LoadPhilly(), Options(8)), SharedTraces.LoadPhilly(), "in-process");

        // Not only the seed printed among the parameters: what happened differs.
        Assert.NotEqual(Results(seven), Results(other));

        static string Results(string folder)
        {
            using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "summary.json")));
            return summary.RootElement.GetProperty("results").GetRawText();
        }
    }

    [Fact]
    public async Task A_sweep_written_twice_from_two_replays_gives_byte_identical_files()
    {
        var first = _folder.Combine("first");
        var second = _folder.Combine("second");
        var trace = SharedTraces.LoadPhilly();
        var options = Options(7);
        var grid = PolicySweep.ScaleGrid(options.Policy, "default", [0.1m, 1m]);

        ReplayReports.WriteSweep(first, await PolicySweep.RunAsync(trace, options, grid, parallelism: 2), trace, options);
        ReplayReports.WriteSweep(second, await PolicySweep.RunAsync(SharedTraces.LoadPhilly(), options, grid, parallelism: 2), trace, options);

        Assert.Equal(["sweep.csv", "sweep.html", "sweep.json"], Directory.GetFiles(first).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        AssertSameFiles(first, second);
    }

    [Fact]
    public async Task A_what_if_written_twice_from_two_replays_gives_byte_identical_files()
    {
        var first = _folder.Combine("first");
        var second = _folder.Combine("second");
        var options = Options(7);

        foreach (var folder in new[] { first, second })
        {
            var trace = SharedTraces.LoadPhilly();
            var abandonment = await WhatIfs.AbandonmentAsync(trace, options, [0, 0.3], parallelism: 2);
            var sybil = await WhatIfs.SybilAsync(trace, options, [2], parallelism: 2);
            ReplayReports.WriteWhatIf(folder, abandonment, sybil, trace, options);
        }

        Assert.Equal(["whatif.csv", "whatif.html", "whatif.json"], Directory.GetFiles(first).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        AssertSameFiles(first, second);

        // whatif.json names the policy, gives each scenario the parameters it ran with, and has
        // the CSV's columns: a scenario can be reproduced from the JSON alone.
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(first, "whatif.json")));
        Assert.Equal(ReportFacts.PolicyHash(options.Policy), json.RootElement.GetProperty("policy").GetProperty("sha256").GetString());
        var scenarios = json.RootElement.GetProperty("scenarios").EnumerateArray().ToArray();
        var header = File.ReadLines(Path.Combine(first, "whatif.csv")).First().Split(',');
        Assert.Equal(header, scenarios[0].EnumerateObject().Select(p => p.Name).Where(n => n != "parameters"));
        var parameters = scenarios.Select(s => s.GetProperty("parameters")).ToArray();
        Assert.Equal([0, 0.3, 0.3, 0.3, 0.3], parameters.Select(p => p.GetProperty("abandon_at_identity").GetDouble()));
        Assert.Equal([1, 1, 1, 2, 2], parameters.Select(p => p.GetProperty("sybil_split").GetInt32()));
        Assert.Equal([false, false, false, false, true], parameters.Select(p => p.GetProperty("sybil_linked").GetBoolean()));
    }

    [Fact]
    public async Task A_run_where_nobody_is_asked_says_so_rather_than_timing_a_step_up_at_zero()
    {
        // The LoRA trace's largest account runs about 10 GPU-hours in all: under the default policy nobody is asked.
        var folder = _folder.Combine("lora");
        var trace = TraceFormats.Load(SharedTraces.Lora, null, new TraceReadOptions());

        ReplayReports.WriteRun(folder, await ReplayRun.InProcessAsync(trace, Options(7)), trace, "in-process");

        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "summary.json")));
        var times = summary.RootElement.GetProperty("results").GetProperty("time_to_first_step_up_seconds");
        Assert.Equal(0, times.GetProperty("users").GetInt64());
        Assert.All(new[] { "p50", "p90", "max" }, name => Assert.Equal(JsonValueKind.Null, times.GetProperty(name).ValueKind));
        Assert.Contains("no user was asked to step up", File.ReadAllText(Path.Combine(folder, "report.html")), StringComparison.Ordinal);
    }

    private static void AssertSameFiles(string first, string second)
    {
        var names = Directory.GetFiles(first).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(names, Directory.GetFiles(second).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var name in names)
        {
            var a = File.ReadAllBytes(Path.Combine(first, name!));
            var b = File.ReadAllBytes(Path.Combine(second, name!));
            Assert.True(a.AsSpan().SequenceEqual(b), $"{name} differs between two replays with the same seed");
        }
    }
}
