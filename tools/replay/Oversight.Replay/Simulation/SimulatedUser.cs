using Oversight.Policy;

namespace Oversight.Replay.Simulation;

/// <summary>One trace account (a person or team) and what the replay did with its jobs.</summary>
public sealed class SimulatedUser
{
    internal SimulatedUser(int index, string name, int tiers)
    {
        Index = index;
        Name = name;
        FlopRunByTier = new long[tiers];
    }

    public int Index { get; }

    /// <summary>The account name in the trace.</summary>
    public string Name { get; }

    public List<SimulatedAccount> Pseudonyms { get; } = [];

    internal SimulatedAccount? FirstPseudonym { get; set; }

    public long Jobs { get; internal set; }

    public long JobsRun { get; internal set; }

    public long JobsDenied { get; internal set; }

    /// <summary>Jobs not run because the user abandoned at a step-up.</summary>
    public long JobsLost { get; internal set; }

    /// <summary>FLOP units of every job of the trace (run or not).</summary>
    public long FlopRequested { get; internal set; }

    public long FlopRun { get; internal set; }

    public long GpuSecondsRun { get; internal set; }

    public long FlopDenied { get; internal set; }

    public long FlopLost { get; internal set; }

    /// <summary>FLOP units run, by the tier the pseudonym held when the job was admitted.</summary>
    public long[] FlopRunByTier { get; }

    /// <summary>The highest tier any of the user's pseudonyms reached.</summary>
    public int HighestTier { get; internal set; }

    public long FirstJobAt { get; internal set; } = long.MinValue;

    /// <summary>When the user was first asked to state a purpose, verify identity, verify an organisation.</summary>
    public long? FirstAskedPurposeAt { get; internal set; }

    public long? FirstAskedIdentityAt { get; internal set; }

    public long? FirstAskedOrganisationAt { get; internal set; }

    /// <summary>The first REQUIRE_* of any kind.</summary>
    public long? FirstStepUpAt { get; internal set; }

    public long? FirstDeniedAt { get; internal set; }

    public long? AbandonedAt { get; internal set; }

    public RequirementKind? AbandonedAtStep { get; internal set; }
}
