using Oversight.Hosting.Auth;
using Oversight.IntegrationTests.Embedded;
using Oversight.IntegrationTests.Flow;
using Oversight.Policy;
using Oversight.Policy.Documents;
using Oversight.Replay.Live;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;
using Oversight.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Oversight.IntegrationTests.Replay;

/// <summary>
/// The live replay (issue 7, item 3): a slice of the shared Philly trace driven over gRPC through
/// the embedded default (simulation clock on) gives the same verdicts, one by one, as the
/// in-process replay, under a policy where every verdict kind occurs.
/// </summary>
public sealed class LiveReplayTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Live_and_in_process_replays_of_a_shared_trace_slice_give_the_same_verdicts()
    {
        var philly = Path.Combine(Repository.Root, "..", "shared", "traces", "philly-chronus", "trace_job_Philly_MIX1.csv");
        // The shipped example ladder under which these 300 jobs meet every verdict kind (docs/replay.md uses it too).
        var policy = File.ReadAllText(Path.Combine(Repository.Root, "tools", "replay", "examples", "every-verdict.yaml"));
        var trace = TraceFormats.Load(philly, "philly-chronus", new TraceReadOptions()).Take(300);
        var options = new ReplayOptions
        {
            Policy = PolicyLoader.Load(policy),
            PolicySource = "every-verdict.yaml",
            Marketplace = "replay-live",
            Behaviour = new UserBehaviour { PurposeDelaySeconds = 60, IdentityDelaySeconds = 120, OrganisationDelaySeconds = 300 },
            AttestIntervalSeconds = 600,
        };

        await using var host = await EmbeddedProcess.StartAsync(new Dictionary<string, string>
        {
            ["Oversight__Simulation__Enabled"] = "true",
            ["Oversight__Kyc__IdentityProviders__simulated__Secrets__0__Id"] = Deployment.IdentitySecretId,
            ["Oversight__Kyc__IdentityProviders__simulated__Secrets__0__Secret"] = Deployment.IdentitySecret,
        });
        var key = DevelopmentSigningKey.LoadOrCreate(host.DataDirectory);
        var target = LiveTarget.SingleAddress(new Uri($"http://127.0.0.1:{host.GrpcPort}"),
            (role, marketplace, provider) => key.CreateToken("oversight", role, marketplace, provider, "replay-test", TimeSpan.FromHours(1), DateTimeOffset.UtcNow),
            Deployment.IdentitySecretId, Deployment.IdentitySecret);

        var live = new List<VerdictEvent>();
        ReplayResult result;
        try
        {
            var backend = await LiveBackend.ConnectAsync(target, options, trace.Jobs[0].Start, setPolicy: true);
            result = await ReplayRun.RunAsync(trace, options, backend, onVerdict: live.Add);
            await backend.ConfirmAllCountedAsync(result.LastEnd, CancellationToken.None);
        }
        catch
        {
            output.WriteLine(host.Output);
            throw;
        }

        var inProcess = new List<VerdictEvent>();
        var expected = await ReplayRun.InProcessAsync(trace, options, onVerdict: inProcess.Add);

        foreach (var verdict in Enum.GetValues<Verdict>().Where(v => v != Verdict.Unspecified))
        {
            output.WriteLine($"{verdict}: live {result.VerdictCount(verdict)}, in process {expected.VerdictCount(verdict)}");
            Assert.True(result.VerdictCount(verdict) > 0, $"the slice should meet {verdict} live");
        }

        var differences = VerdictComparison.Differences(inProcess, live);
        Assert.True(differences.Count == 0, $"{differences.Count} of {inProcess.Count} verdicts differ:\n{string.Join("\n", differences.Take(20))}");
        Assert.Equal(expected.FlopRun, result.FlopRun);
    }
}
