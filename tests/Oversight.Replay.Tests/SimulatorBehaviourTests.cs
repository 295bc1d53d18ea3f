using Oversight.Policy;
using Oversight.Policy.Documents;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Tests;

/// <summary>
/// The simulator on hand-made jobs and small policies: step-up delays, abandonment, the seed,
/// attestation in parts, rolling windows, sybil splitting and every verdict kind. Jobs give their
/// FLOP (units of 10^12) so the thresholds they cross are plain to see.
/// </summary>
public sealed class SimulatorBehaviourTests
{
    /// <summary>Lifetime limits only: 100, 1,000, 10,000 and 100,000 FLOP units up the ladder; near limit past 80%.</summary>
    private const string Ladder = """
        windows:
          - id: lifetime
        ladder:
          - id: anonymous
            display_name: Anonymous
            requirement: none
            limits: { lifetime: { flop_units: 100 } }
          - id: stated_purpose
            display_name: Stated purpose
            requirement: stated_purpose
            limits: { lifetime: { flop_units: 1000 } }
          - id: identity_verified
            display_name: Identity verified
            requirement: identity
            limits: { lifetime: { flop_units: 10000 } }
          - id: organisation_verified
            display_name: Organisation verified
            requirement: organisation
            limits: { lifetime: { flop_units: 100000 } }
        near_limit_fraction: 0.8
        """;

    /// <summary>A rolling hour counted in minutes: <paramref name="anonymous"/> units anonymously, a thousand times more after a stated purpose.</summary>
    private static string HourLadder(long anonymous = 1_000_000) => $$"""
        windows:
          - id: 1h
            length_seconds: 3600
            bucket_seconds: 60
        ladder:
          - id: anonymous
            display_name: Anonymous
            requirement: none
            limits: { 1h: { flop_units: {{anonymous}} } }
          - id: stated_purpose
            display_name: Stated purpose
            requirement: stated_purpose
            limits: { 1h: { flop_units: {{anonymous * 1000}} } }
        near_limit_fraction: 0.8
        hold_ttl_seconds: 86400
        """;

    private static readonly UserBehaviour Immediate = new() { PurposeDelaySeconds = 0, IdentityDelaySeconds = 0, OrganisationDelaySeconds = 0 };

    [Fact]
    public async Task A_step_up_delay_defers_the_job_and_the_accounts_other_jobs_to_the_step_ups_end()
    {
        var trace = Trace(Job("alice", 1000, 500), Job("alice", 1100, 10), Job("bob", 1100, 10));
        var verdicts = new List<VerdictEvent>();

        var result = await ReplayRun.InProcessAsync(trace, Options(Ladder, new UserBehaviour { PurposeDelaySeconds = 300 }), onVerdict: verdicts.Add);

        Assert.Equal(
            [
                (1000L, "alice", "job-0", Verdict.RequireStatedPurpose),
                (1100L, "bob", "job-2", Verdict.Allow),
                (1300L, "alice", "job-0-1", Verdict.Allow),
                (1300L, "alice", "job-1", Verdict.Allow),
            ],
            verdicts.Select(v => (v.Time, v.Pseudonym, v.LeaseId, v.Verdict)));
        var alice = result.Users.Single(u => u.Name == "alice");
        Assert.Equal((1000L, 1, 2L), (alice.FirstAskedPurposeAt!.Value, alice.HighestTier, alice.JobsRun));
        Assert.Equal([0L, 510, 0, 0], alice.FlopRunByTier);
    }

    [Fact]
    public async Task Abandonment_with_probability_one_drops_the_job_and_every_later_job_of_the_user()
    {
        var trace = Trace(
            Job("alice", 0, 50), Job("alice", 100, 500), Job("bob", 150, 10), Job("alice", 200, 10), Job("bob", 250, 10), Job("alice", 300, 20));
        var always = Immediate with { AbandonAtPurpose = 1, AbandonAtIdentity = 1, AbandonAtOrganisation = 1 };

        var result = await ReplayRun.InProcessAsync(trace, Options(Ladder, always));

        var alice = result.Users.Single(u => u.Name == "alice");
        Assert.Equal((1L, 3L, 530L, 50L), (alice.JobsRun, alice.JobsLost, alice.FlopLost, alice.FlopRun));
        Assert.Equal((100L, RequirementKind.StatedPurpose), (alice.AbandonedAt!.Value, alice.AbandonedAtStep!.Value));
        var bob = result.Users.Single(u => u.Name == "bob");
        Assert.Equal((2L, 0L, 0L), (bob.JobsRun, bob.JobsLost, bob.FlopLost));
        Assert.Null(bob.AbandonedAt);
        // Lost jobs are never asked for: one step-up request, three admissions.
        Assert.Equal((1L, 3L), (result.VerdictCount(Verdict.RequireStatedPurpose), result.VerdictCount(Verdict.Allow)));
    }

    [Fact]
    public async Task Abandonment_with_probability_zero_never_drops_a_job()
    {
        var trace = Trace(Job("alice", 0, 50), Job("alice", 100, 500), Job("alice", 200, 10), Job("alice", 300, 20));

        var result = await ReplayRun.InProcessAsync(trace, Options(Ladder, Immediate with { AbandonAtPurpose = 0 }));

        var alice = Assert.Single(result.Users);
        Assert.Equal((4L, 0L, 0L), (alice.JobsRun, alice.JobsLost, alice.FlopLost));
        Assert.Null(alice.AbandonedAt);
        Assert.Equal(result.FlopRequested, result.FlopRun);
        Assert.Equal(580, result.FlopRun);
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_abandonments_and_another_seed_different_ones()
    {
        // 200 users, each asked once to state a purpose, each leaving with probability 0.5.
        var trace = Trace([.. Enumerable.Range(0, 200).Select(i => Job($"u{i:D3}", i, 500))]);
        var options = Options(Ladder, Immediate with { AbandonAtPurpose = 0.5 });

        var first = Abandoned(await ReplayRun.InProcessAsync(trace, options with { Seed = 7 }));
        var again = Abandoned(await ReplayRun.InProcessAsync(trace, options with { Seed = 7 }));
        var other = Abandoned(await ReplayRun.InProcessAsync(trace, options with { Seed = 8 }));

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.InRange(first.Length, 60, 140);
        Assert.InRange(other.Length, 60, 140);

        static string[] Abandoned(ReplayResult result) => [.. result.Users.Where(u => u.AbandonedAt is not null).Select(u => u.Name)];
    }

    [Fact]
    public async Task Attestations_in_parts_add_up_exactly_to_the_jobs_flop()
    {
        // 3 H100s for 10,007 s at the policy's 40%: ceil(3 x 989 x 10,007 x 0.4) units, attested every 7 s.
        const long Duration = 10_007;
        var expectedFlop = (long)Math.Ceiling(3 * 989m * Duration * 0.4m);
        var job = new TraceJob("alice", 1_700_000_400, 1_700_000_400 + Duration, "H100-SXM", 3, null, null, new TraceLocation("test", 2));
        var options = Options(HourLadder(anonymous: 100_000_000_000), Immediate) with { AttestIntervalSeconds = 7, TimelineBucketSeconds = 600 };
        var backend = new RecordingBackend(new InProcessBackend(options.Policy.Resolve(options.Marketplace)));

        var result = await ReplayRun.RunAsync(Trace(job), options, backend);

        Assert.Equal(expectedFlop, result.FlopRequested);
        Assert.Equal(expectedFlop, result.FlopRun);
        Assert.Equal(3 * Duration, Assert.Single(result.Users).GpuSecondsRun);
        var parts = backend.Attestations;
        Assert.Equal((Duration + 6) / 7, parts.Count);
        Assert.Equal(expectedFlop, parts.Sum(p => p.FlopUnits));
        Assert.Equal(3 * Duration, parts.Sum(p => p.GpuSeconds));
        Assert.All(parts.SkipLast(1), p => Assert.False(p.Final));
        Assert.True(parts[^1].Final);
        Assert.Equal(job.End, parts[^1].Now);
        // Contiguous intervals from the job's start, each 7 s but the last.
        Assert.Equal(job.Start, parts[0].IntervalStart);
        Assert.All(parts.Zip(parts.Skip(1)), pair => Assert.Equal(pair.First.Now, pair.Second.IntervalStart));
        Assert.All(parts.SkipLast(1), p => Assert.Equal(7, p.Now - p.IntervalStart));
        // Each part is its share of the whole, within a unit.
        Assert.All(parts.SkipLast(1), p => Assert.InRange(p.FlopUnits, expectedFlop * 7 / Duration - 1, expectedFlop * 7 / Duration + 2));
        // The timeline has the compute where it ran: spread over the 10-minute buckets (the job starts on
        // a bucket's edge), none holding more than about its share.
        var points = result.Timeline.Points.ToArray();
        Assert.Equal(Duration / 600 + 1, points.Length);
        Assert.Equal(expectedFlop, points.Sum(p => p.Value.FlopByTier[0]));
        Assert.All(points, p => Assert.True(p.Value.FlopByTier[0] <= expectedFlop * 610 / Duration, $"bucket {p.Key}: {p.Value.FlopByTier[0]}"));
    }

    [Fact]
    public async Task A_job_attested_once_at_its_end_is_charted_over_the_time_it_ran()
    {
        // Three hours on one H100, attested only at the end: the chart's FLOP per 10 minutes is a
        // rate, so each of the 18 buckets gets an 18th (within a unit), not the last bucket all of it.
        const long Duration = 10_800;
        var job = new TraceJob("alice", 1_700_000_400, 1_700_000_400 + Duration, "H100-SXM", 1, null, null, new TraceLocation("test", 2));
        var options = Options(HourLadder(anonymous: 100_000_000_000), Immediate) with { AttestIntervalSeconds = 86_400, TimelineBucketSeconds = 600 };

        var result = await ReplayRun.InProcessAsync(Trace(job), options);

        var points = result.Timeline.Points.ToArray();
        Assert.Equal(Enumerable.Range(0, 18).Select(i => job.Start + (i * 600L)), points.Select(p => p.Key));
        Assert.Equal(result.FlopRun, points.Sum(p => p.Value.FlopByTier[0]));
        Assert.All(points, p => Assert.InRange(p.Value.FlopByTier[0], (result.FlopRun / 18) - 1, (result.FlopRun / 18) + 1));
    }

    [Theory]
    [InlineData(600, true)]
    [InlineData(86_400, false)]
    public async Task Partial_attestations_land_in_the_rolling_window_when_they_happen(long attestInterval, bool secondJobFits)
    {
        // Alice runs 900,000 units over three hours, then asks for 550,000 more a minute after.
        // Attested every 10 minutes, only the last hour's share (about 300,000) is in the 1h window;
        // attested once at the end, all 900,000 land there and the request no longer fits.
        var trace = Trace(Job("alice", 0, 900_000, duration: 10_800), Job("alice", 10_860, 550_000, duration: 60));
        var verdicts = new List<VerdictEvent>();

        await ReplayRun.InProcessAsync(trace, Options(HourLadder(), Immediate) with { AttestIntervalSeconds = attestInterval }, onVerdict: verdicts.Add);

        var second = verdicts.First(v => v.LeaseId == "job-1");
        Assert.Equal(secondJobFits ? Verdict.AllowNearLimit : Verdict.RequireStatedPurpose, second.Verdict);
    }

    [Theory]
    [InlineData(14_000, false)]
    [InlineData(14_520, true)]
    public async Task Usage_leaves_the_rolling_window_an_hour_after_it_was_attested(long secondStart, bool secondJobFits)
    {
        // The first job's 900,000 units are attested at its end (10,800 s); while they are in the
        // last hour another 900,000 do not fit the anonymous 1,000,000.
        var trace = Trace(Job("alice", 0, 900_000, duration: 10_800), Job("alice", secondStart, 900_000, duration: 60));
        var verdicts = new List<VerdictEvent>();

        await ReplayRun.InProcessAsync(trace, Options(HourLadder(), Immediate) with { AttestIntervalSeconds = 86_400 }, onVerdict: verdicts.Add);

        var second = verdicts.First(v => v.LeaseId == "job-1");
        Assert.Equal(secondJobFits ? Verdict.AllowNearLimit : Verdict.RequireStatedPurpose, second.Verdict);
    }

    [Fact]
    public async Task Linked_sybil_pseudonyms_share_the_anonymous_budget_and_unlinked_ones_multiply_it()
    {
        // Six jobs of 50 units against an anonymous lifetime limit of 100, spread over 3 pseudonyms:
        // unlinked, each pseudonym runs its two jobs anonymously; linked, the cluster runs two and
        // every pseudonym must then state a purpose.
        var trace = Trace([.. Enumerable.Range(0, 6).Select(i => Job("alice", 1000 * i, 50))]);
        var unlinkedVerdicts = new List<VerdictEvent>();

        var unlinked = await ReplayRun.InProcessAsync(trace, Options(Ladder, Immediate) with { SybilSplit = 3 }, onVerdict: unlinkedVerdicts.Add);
        var linked = await ReplayRun.InProcessAsync(trace, Options(Ladder, Immediate) with { SybilSplit = 3, SybilLinked = true });

        Assert.Equal(["alice~1", "alice~2", "alice~3"], Assert.Single(unlinked.Users).Pseudonyms.Select(p => p.Pseudonym));
        Assert.Equal(["alice~1", "alice~2", "alice~3"], Assert.Single(linked.Users).Pseudonyms.Select(p => p.Pseudonym));
        Assert.Equal((3L, 3L), (unlinked.Pseudonyms, linked.Pseudonyms));
        Assert.Equal(["alice~1", "alice~2", "alice~3", "alice~1", "alice~2", "alice~3"], unlinkedVerdicts.Select(v => v.Pseudonym));

        Assert.Equal(0, unlinked.VerdictCount(Verdict.RequireStatedPurpose));
        Assert.Equal(300, unlinked.Users[0].FlopRunByTier[0]);
        Assert.Equal(3, linked.VerdictCount(Verdict.RequireStatedPurpose));
        Assert.Equal(100, linked.Users[0].FlopRunByTier[0]);
        Assert.Equal((300L, 300L), (unlinked.FlopRun, linked.FlopRun));
    }

    [Fact]
    public async Task Without_sybil_splitting_the_pseudonym_is_the_trace_account()
    {
        var result = await ReplayRun.InProcessAsync(Trace(Job("alice", 0, 10), Job("alice", 10, 10)), Options(Ladder, Immediate));

        Assert.Equal(["alice"], Assert.Single(result.Users).Pseudonyms.Select(p => p.Pseudonym));
    }

    [Fact]
    public async Task Trace_account_names_outside_the_stores_id_alphabet_are_replayed_under_their_own_names()
    {
        var trace = Trace(Job("alice@example.org", 0, 60), Job("Jürgen Müller", 5, 60), Job("alice@example.org", 10, 60));

        var result = await ReplayRun.InProcessAsync(trace, Options(Ladder, Immediate) with { SybilSplit = 2, SybilLinked = true });

        Assert.Equal(["alice@example.org", "Jürgen Müller"], result.Users.Select(u => u.Name));
        Assert.Equal(["alice@example.org~1", "alice@example.org~2"], result.Users[0].Pseudonyms.Select(p => p.Pseudonym));
        // Alice's two pseudonyms share one anonymous budget of 100: her second job asks for a stated purpose.
        Assert.Equal(1, result.VerdictCount(Verdict.RequireStatedPurpose));
        Assert.Equal(180, result.FlopRun);
    }

    [Fact]
    public async Task A_policy_can_give_every_verdict_kind()
    {
        var trace = Trace(
            Job("allowed", 0, 10),
            Job("near-limit", 10, 90),
            Job("purpose", 20, 500),
            Job("identity", 30, 5_000),
            Job("organisation", 40, 50_000),
            Job("denied", 50, 500_000));

        var result = await ReplayRun.InProcessAsync(trace, Options(Ladder, Immediate));

        // Each step-up is completed at once and the job asks again, at half the new tier's limit: ALLOW.
        Assert.Equal(4, result.VerdictCount(Verdict.Allow));
        Assert.Equal(1, result.VerdictCount(Verdict.AllowNearLimit));
        Assert.Equal(1, result.VerdictCount(Verdict.RequireStatedPurpose));
        Assert.Equal(1, result.VerdictCount(Verdict.RequireIdentity));
        Assert.Equal(1, result.VerdictCount(Verdict.RequireOrganisation));
        Assert.Equal(1, result.VerdictCount(Verdict.Deny));
        Assert.Equal(0, result.VerdictCount(Verdict.Unspecified));
        Assert.Equal(
            [("allowed", 0), ("near-limit", 0), ("purpose", 1), ("identity", 2), ("organisation", 3), ("denied", 0)],
            result.Users.Select(u => (u.Name, u.HighestTier)));
        var denied = result.Users.Single(u => u.Name == "denied");
        Assert.Equal((1L, 500_000L, 50L), (denied.JobsDenied, denied.FlopDenied, denied.FirstDeniedAt!.Value));
    }

    private static ReplayOptions Options(string policy, UserBehaviour behaviour) =>
        new() { Policy = PolicyLoader.Load(policy), PolicySource = "test", Behaviour = behaviour };

    private static TraceJob Job(string account, long start, long flopUnits, long duration = 10) =>
        new(account, start, start + duration, "H100-SXM", 1, flopUnits, null, new TraceLocation("test", start));

    private static TraceLoad Trace(params TraceJob[] jobs) => TestTraces.Of(jobs);

    private sealed record Attestation(string LeaseId, long FlopUnits, long GpuSeconds, long IntervalStart, long Now, bool Final);

    /// <summary>The in-process backend, recording every attestation it is given.</summary>
    private sealed class RecordingBackend(IReplayBackend inner) : IReplayBackend
    {
        public List<Attestation> Attestations { get; } = [];

        public void OpenAccount(SimulatedAccount account, long now) => inner.OpenAccount(account, now);

        public AuthorizeAnswer Authorize(SimulatedAccount account, string leaseId, TraceJob job, long now) => inner.Authorize(account, leaseId, job, now);

        public void Attest(SimulatedAccount account, string leaseId, TraceJob job, int part, long flopUnits, long gpuSeconds, long intervalStart, long now, bool final)
        {
            Attestations.Add(new Attestation(leaseId, flopUnits, gpuSeconds, intervalStart, now, final));
            inner.Attest(account, leaseId, job, part, flopUnits, gpuSeconds, intervalStart, now, final);
        }

        public void StepUp(SimulatedAccount account, int tierLevel, RequirementKind requirement, long now) => inner.StepUp(account, tierLevel, requirement, now);
    }
}
