using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Oversight.Policy;
using Oversight.Policy.Documents;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Reports;

/// <summary>The figures every report shows, computed once from a result (so the JSON, CSV and HTML agree).</summary>
public sealed class ReportFacts
{
    /// <summary>The step-ups a ladder can ask for, in ladder order.</summary>
    public static readonly RequirementKind[] StepUps = [RequirementKind.StatedPurpose, RequirementKind.Identity, RequirementKind.Organisation];

    public ReportFacts(ReplayResult result)
    {
        Result = result;
        var policy = result.Policy;
        Users = result.Users.Count;
        UsersAbandoned = result.Users.LongCount(u => u.AbandonedAt is not null);
        UsersDenied = result.Users.LongCount(u => u.FirstDeniedAt is not null);
        FlopRun = result.FlopRun;
        FlopRequested = result.FlopRequested;
        FlopDenied = result.Users.Sum(u => u.FlopDenied);
        FlopLost = result.Users.Sum(u => u.FlopLost);
        GpuSecondsRun = result.Users.Sum(u => u.GpuSecondsRun);
        FlopRunByTier = Enumerable.Range(0, policy.Ladder.Count).Select(t => result.Users.Sum(u => u.FlopRunByTier[t])).ToArray();
        Asked = StepUps.ToDictionary(k => k, result.UsersAsked);
        TimesToFirstStepUp = result.Users.Where(u => u.FirstStepUpAt is not null).Select(u => u.FirstStepUpAt!.Value - u.FirstJobAt).Order().ToArray();
    }

    public ReplayResult Result { get; }

    public long Users { get; }

    public long UsersAbandoned { get; }

    public long UsersDenied { get; }

    public long FlopRun { get; }

    public long FlopRequested { get; }

    public long FlopDenied { get; }

    public long FlopLost { get; }

    public long GpuSecondsRun { get; }

    public long[] FlopRunByTier { get; }

    public IReadOnlyDictionary<RequirementKind, long> Asked { get; }

    /// <summary>Seconds from each asked user's first job to its first REQUIRE_*, ascending.</summary>
    public long[] TimesToFirstStepUp { get; }

    public double Share(long part, long whole) => whole == 0 ? 0 : (double)part / whole;

    /// <summary>The lowest tier level whose requirement is <paramref name="kind"/>, or null when the ladder has none.</summary>
    public int? LevelOf(RequirementKind kind)
    {
        for (var level = 0; level < Result.Policy.Ladder.Count; level++)
        {
            if (Result.Policy.Ladder[level].Requirement == kind)
            {
                return level;
            }
        }

        return null;
    }

    /// <summary>The nearest-rank percentile of ascending values; null when there are none (0 would read as "at once").</summary>
    public static long? Percentile(long[] sorted, double p) =>
        sorted.Length == 0 ? null : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    /// <summary>SHA-256 of the policy as YAML, so a report names the exact policy it replayed.</summary>
    public static string PolicyHash(PolicyDocument policy) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(PolicyLoader.ToYaml(policy))));

    public static string Snake(RequirementKind kind) => kind switch
    {
        RequirementKind.StatedPurpose => "stated_purpose",
        RequirementKind.Identity => "identity",
        RequirementKind.Organisation => "organisation",
        _ => "none",
    };

    public static string Snake(Verdict verdict) => verdict switch
    {
        Verdict.Allow => "ALLOW",
        Verdict.AllowNearLimit => "ALLOW_NEAR_LIMIT",
        Verdict.RequireStatedPurpose => "REQUIRE_STATED_PURPOSE",
        Verdict.RequireIdentity => "REQUIRE_IDENTITY",
        Verdict.RequireOrganisation => "REQUIRE_ORGANISATION",
        Verdict.Deny => "DENY",
        _ => "UNSPECIFIED",
    };

    public static IEnumerable<Verdict> Verdicts => Enum.GetValues<Verdict>().Where(v => v != Verdict.Unspecified);

    public static string Time(long? unixSeconds) => unixSeconds is { } t ? TraceTime.Format(t) : "";

    /// <summary>A share as a percentage with one decimal, e.g. "12.5%".</summary>
    public static string Percent(double share) => (share * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    public static string Number(double value) => Math.Round(value, 6).ToString("0.######", CultureInfo.InvariantCulture);
}
