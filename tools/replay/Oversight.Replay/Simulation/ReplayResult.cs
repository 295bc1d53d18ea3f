using Oversight.Policy;
using Oversight.Policy.Documents;

namespace Oversight.Replay.Simulation;

/// <summary>What a replay did: every user, the verdicts, the timeline, and the figures derived from them.</summary>
public sealed class ReplayResult(
    EffectivePolicy policy,
    ReplayOptions options,
    IReadOnlyList<SimulatedUser> users,
    long[] verdictCounts,
    ReplayTimeline timeline,
    long jobs,
    long events,
    long pseudonyms,
    long firstStart,
    long lastEnd)
{
    public EffectivePolicy Policy { get; } = policy;

    public ReplayOptions Options { get; } = options;

    /// <summary>Users in the order their first job appeared.</summary>
    public IReadOnlyList<SimulatedUser> Users { get; } = users;

    public ReplayTimeline Timeline { get; } = timeline;

    public long Jobs { get; } = jobs;

    /// <summary>Calls into the backend: admissions (first and retried), attestations and completed step-ups.</summary>
    public long Events { get; } = events;

    public long Pseudonyms { get; } = pseudonyms;

    public long FirstStart { get; } = firstStart;

    public long LastEnd { get; } = lastEnd;

    public long VerdictCount(Verdict verdict) => verdictCounts[(int)verdict];

    public long FlopRequested => Users.Sum(u => u.FlopRequested);

    public long FlopRun => Users.Sum(u => u.FlopRun);

    /// <summary>Users asked at least once for a step-up of this kind.</summary>
    public long UsersAsked(RequirementKind requirement) => Users.LongCount(u => AskedAt(u, requirement) is not null);

    /// <summary>Users whose highest tier is at or above <paramref name="level"/>.</summary>
    public long UsersAtOrAbove(int level) => Users.LongCount(u => u.HighestTier >= level);

    /// <summary>
    /// Share of all compute run that was run by users who reached <paramref name="level"/> or
    /// higher (all their compute, before and after the step-up): how much of the compute the
    /// tier's requirement brings under its scrutiny.
    /// </summary>
    public double ComputeShareOfUsersAtOrAbove(int level)
    {
        var total = FlopRun;
        return total == 0 ? 0 : (double)Users.Where(u => u.HighestTier >= level).Sum(u => u.FlopRun) / total;
    }

    public static long? AskedAt(SimulatedUser user, RequirementKind requirement) => requirement switch
    {
        RequirementKind.StatedPurpose => user.FirstAskedPurposeAt,
        RequirementKind.Identity => user.FirstAskedIdentityAt,
        RequirementKind.Organisation => user.FirstAskedOrganisationAt,
        _ => null,
    };
}
