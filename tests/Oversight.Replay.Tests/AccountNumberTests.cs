using Oversight.Policy.Documents;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Tests;

/// <summary>The account number a trace reader gives a job (found by index in the replay) must never make one account of two.</summary>
public sealed class AccountNumberTests
{
    private const string Policy = """
        windows:
          - id: lifetime
        ladder:
          - id: anonymous
            display_name: Anonymous
            requirement: none
            limits: { lifetime: { flop_units: 100 } }
        near_limit_fraction: 0.8
        """;

    private static ReplayOptions Options() => new() { Policy = PolicyLoader.Load(Policy), PolicySource = "test" };

    private static TraceJob Job(string account, long start) =>
        new(account, start, start + 10, "H100-SXM", 1, 10, null, new TraceLocation("test", start));

    private static TraceLoad Read(params TraceJob[] jobs)
    {
        var collector = new TraceCollector(new TraceReadOptions());
        foreach (var job in jobs)
        {
            collector.Add(job.Account, job.Start, job.End, job.AcceleratorModel, job.AcceleratorCount, job.FlopUnits, job.WorkloadClass, job.Line);
        }

        return collector.Complete("test", []);
    }

    private static TraceLoad Trace(IEnumerable<TraceJob> jobs) => TestTraces.Of(jobs);

    [Fact]
    public async Task Jobs_of_two_loads_replayed_together_keep_their_accounts()
    {
        var a = Read(Job("alice", 0));
        var b = Read(Job("carol", 1));
        var result = await ReplayRun.InProcessAsync(Trace([.. a.Jobs, .. b.Jobs]), Options());
        Assert.Equal(["alice", "carol"], result.Users.Select(u => u.Name));
    }

    [Fact]
    public async Task An_account_renamed_with_with_is_replayed_under_its_new_name()
    {
        // A researcher splits one trace account into two by hand.
        var load = Read(Job("alice", 0), Job("alice", 1));
        var split = load.Jobs.Select((j, i) => j with { Account = $"alice-{i}" });
        var result = await ReplayRun.InProcessAsync(Trace(split), Options());
        Assert.Equal(["alice-0", "alice-1"], result.Users.Select(u => u.Name));
    }

    [Fact]
    public async Task A_number_set_by_hand_far_beyond_the_accounts_is_looked_up_by_name()
    {
        var result = await ReplayRun.InProcessAsync(Trace([Job("alice", 0) with { AccountNumber = int.MaxValue }, Job("alice", 1) with { AccountNumber = int.MaxValue }]), Options());
        Assert.Equal(["alice"], result.Users.Select(u => u.Name));
        Assert.Equal(2, result.Users[0].Jobs);
    }
}
