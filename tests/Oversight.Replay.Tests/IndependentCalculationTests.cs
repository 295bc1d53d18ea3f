using System.Globalization;
using Oversight.Policy.Documents;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Tests;

/// <summary>
/// The replay of both shared traces against a straightforward calculation written here from the
/// raw CSV (its own parsing, its own FLOP arithmetic), under a ladder with lifetime limits only:
/// there, an account's usage + held is simply the sum of its admitted jobs, so the first job that
/// crosses each threshold can be found by a running sum. Step-ups take no time, so no job moves.
/// </summary>
public sealed class IndependentCalculationTests
{
    private sealed record RawJob(string Account, long Start, long Count, long Duration, decimal PeakTflops);

    private sealed class Expected
    {
        public long Jobs;
        public long Flop;
        public long GpuSeconds;
        public int Tier;
        public long? AskedPurpose;
        public long? AskedIdentity;
        public long? AskedOrganisation;
    }

    public static TheoryData<string, long, long, long> Traces => new()
    {
        // trace, then the anonymous, stated-purpose and identity lifetime limits in FLOP units
        { "lora", 20_000, 200_000, 2_000_000 },
        { "philly", 1_000_000, 5_000_000, 15_000_000 },
    };

    [Theory]
    [MemberData(nameof(Traces))]
    public async Task Per_account_totals_and_first_threshold_crossings_match_a_direct_calculation(string trace, long anonymous, long purpose, long identity)
    {
        var (path, raw) = trace == "lora" ? (SharedTraces.Lora, ReadLora(SharedTraces.Lora)) : (SharedTraces.Philly, ReadPhilly(SharedTraces.Philly));
        var expected = Calculate(raw, [anonymous, purpose, identity]);

        var load = TraceFormats.Load(path, null, new TraceReadOptions());
        var options = new ReplayOptions
        {
            Policy = PolicyLoader.Load(LifetimeLadder(anonymous, purpose, identity)),
            Behaviour = new UserBehaviour { PurposeDelaySeconds = 0, IdentityDelaySeconds = 0, OrganisationDelaySeconds = 0 },
        };
        var result = await ReplayRun.InProcessAsync(load, options);

        Assert.Equal(expected.Count, result.Users.Count);
        // Accounts whose every row is left out (zero time, no GPUs) are reported, not silently dropped.
        var accountColumn = trace == "lora" ? 4 : 1;
        var everyAccount = File.ReadLines(path).Skip(1).Select(line => line.Split(',')[accountColumn]).Distinct(StringComparer.Ordinal).Count();
        Assert.Equal(everyAccount - expected.Count, load.AccountsOnlyInRowsLeftOut);
        Assert.True(expected.Values.Count(e => e.AskedPurpose is not null) > 10, "the thresholds should make many accounts cross the first rung");
        Assert.Contains(expected.Values, e => e.AskedOrganisation is not null);
        foreach (var user in result.Users)
        {
            var e = expected[user.Name];
            var because = $"account {user.Name}";
            Assert.True(e.Jobs == user.Jobs, $"{because}: jobs {user.Jobs}, expected {e.Jobs}");
            Assert.True(e.Flop == user.FlopRequested && e.Flop == user.FlopRun, $"{because}: FLOP requested {user.FlopRequested}, run {user.FlopRun}, expected {e.Flop}");
            Assert.True(e.GpuSeconds == user.GpuSecondsRun, $"{because}: GPU-seconds {user.GpuSecondsRun}, expected {e.GpuSeconds}");
            Assert.True(e.Tier == user.HighestTier, $"{because}: tier {user.HighestTier}, expected {e.Tier}");
            Assert.True(e.AskedPurpose == user.FirstAskedPurposeAt, $"{because}: first asked to state a purpose at {user.FirstAskedPurposeAt}, expected {e.AskedPurpose}");
            Assert.True(e.AskedIdentity == user.FirstAskedIdentityAt, $"{because}: first asked for identity at {user.FirstAskedIdentityAt}, expected {e.AskedIdentity}");
            Assert.True(e.AskedOrganisation == user.FirstAskedOrganisationAt, $"{because}: first asked for an organisation at {user.FirstAskedOrganisationAt}, expected {e.AskedOrganisation}");
        }
    }

    /// <summary>Walks each account's jobs in start order (file order on ties) with a running sum against the lifetime limits.</summary>
    private static Dictionary<string, Expected> Calculate(IReadOnlyList<RawJob> jobs, long[] limits)
    {
        var accounts = new Dictionary<string, Expected>(StringComparer.Ordinal);
        var cumulative = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var job in jobs.Select((j, i) => (j, i)).OrderBy(x => x.j.Start).ThenBy(x => x.i).Select(x => x.j))
        {
            var e = accounts.TryGetValue(job.Account, out var found) ? found : accounts[job.Account] = new Expected();
            // Epoch AI: count x peak x duration x 0.4, in units of 10^12 FLOP (peak in TFLOP/s), rounded up.
            var flop = (long)Math.Ceiling(job.Count * job.PeakTflops * job.Duration * 0.4m);
            e.Jobs++;
            e.Flop += flop;
            e.GpuSeconds += job.Count * job.Duration;
            var sum = cumulative[job.Account] = cumulative.GetValueOrDefault(job.Account) + flop;
            if (e.Tier < 3 && sum > limits[e.Tier])
            {
                var tier = e.Tier + 1;
                while (tier < 3 && sum > limits[tier])
                {
                    tier++;
                }

                switch (tier)
                {
                    case 1: e.AskedPurpose ??= job.Start; break;
                    case 2: e.AskedIdentity ??= job.Start; break;
                    default: e.AskedOrganisation ??= job.Start; break;
                }

                e.Tier = tier;
            }
        }

        return accounts;
    }

    // gmt_create,predict_type,predict_status,exec_time_seconds,groupId,...: no quoted fields in this file.
    private static List<RawJob> ReadLora(string path) =>
        File.ReadLines(path).Skip(1).Select(line => line.Split(','))
            .Select(f => (Start: DateTime.ParseExact(f[0], "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal),
                Seconds: (long)Math.Ceiling(double.Parse(f[3], CultureInfo.InvariantCulture)), Group: f[4]))
            .Where(r => r.Seconds > 0)
            .Select(r => new RawJob(r.Group, new DateTimeOffset(r.Start).ToUnixTimeSeconds(), 1, r.Seconds, 312m)) // A100, dense BF16
            .ToList();

    // job_id,user,num_gpu,submit_time,iterations,model_name,duration,...; submit_time counts from the
    // trace start, which the replay takes as 2017-10-03T00:00:00Z unless told otherwise.
    private static List<RawJob> ReadPhilly(string path) =>
        File.ReadLines(path).Skip(1).Select(line => line.Split(','))
            .Select(f => new RawJob(f[1], 1_506_988_800 + long.Parse(f[3], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture), long.Parse(f[6], CultureInfo.InvariantCulture), 21.2m)) // P100 FP16
            .Where(j => j.Count > 0 && j.Duration > 0)
            .ToList();

    internal static string LifetimeLadder(long anonymous, long purpose, long identity) => $$"""
        windows:
          - id: lifetime
        ladder:
          - id: anonymous
            display_name: Anonymous
            requirement: none
            limits: { lifetime: { flop_units: {{anonymous}} } }
          - id: stated_purpose
            display_name: Stated purpose
            requirement: stated_purpose
            limits: { lifetime: { flop_units: {{purpose}} } }
          - id: identity_verified
            display_name: Identity verified
            requirement: identity
            limits: { lifetime: { flop_units: {{identity}} } }
          - id: organisation_verified
            display_name: Organisation verified
            requirement: organisation
        hold_ttl_seconds: 864000
        """;
}
