using System.Text.Json;
using Oversight.IntegrationTests.Embedded;
using Oversight.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Oversight.IntegrationTests.Replay;

/// <summary>
/// The marketplace simulation (issue 9, item 3) as a user runs it: the real command line against
/// the embedded default on its own clock, with nothing but the embedded default's data folder.
/// </summary>
public sealed class SimulationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Simulate_against_the_embedded_default_steps_users_up_and_counts_every_attestation_once()
    {
        await using var host = await EmbeddedProcess.StartAsync();
        var philly = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "..", "shared", "traces", "philly-chronus", "trace_job_Philly_MIX1.csv");
        var work = Directory.CreateTempSubdirectory("oversight-simulate-").FullName;
        var (code, stdout, stderr) = await Processes.RunAsync("dotnet",
            [Path.Combine(AppContext.BaseDirectory, "oversight-replay.dll"), "simulate", "--trace", Path.GetFullPath(philly),
                "--address", $"http://127.0.0.1:{host.GrpcPort}", "--embedded-data", host.DataDirectory, "--out", Path.Combine(work, "out"), "--no-progress"],
            work);
        output.WriteLine(stdout);
        output.WriteLine(stderr);
        Assert.Equal(0, code);
        Assert.Contains("every attested unit counted once by enforcement", stdout);

        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(work, "out", "summary.json")));
        var results = summary.RootElement.GetProperty("results");
        Assert.Equal(22, results.GetProperty("pseudonyms").GetInt64());
        Assert.Equal(3000, results.GetProperty("jobs").GetInt64());
        Assert.True(results.GetProperty("verdicts").GetProperty("REQUIRE_STATED_PURPOSE").GetInt64() > 0, "heavy users should be asked to state a purpose");
        Assert.True(results.GetProperty("compute").GetProperty("flop_units_run_by_tier").GetProperty("stated_purpose").GetInt64() > 0, "users who stated a purpose go on");
    }
}
