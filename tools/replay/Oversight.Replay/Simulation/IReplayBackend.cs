using Oversight.Policy;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Simulation;

/// <summary>
/// Where the replay's decisions are made: in this process (<see cref="InProcessBackend"/>, the
/// policy core on the in-memory counter store) or by a running deployment over gRPC (live mode).
/// The simulator, which plays the users, is the same for both, so the two modes can be compared
/// verdict by verdict. Calls come in time order; <c>now</c> is virtual time (Unix seconds).
/// </summary>
/// <remarks>
/// Synchronous on purpose: the in-process replay makes millions of calls a second and decides
/// each at once, and an async state machine per call (several nested per event) cost about as
/// much as the decision itself (measured with tests/Oversight.Replay.Benchmarks). The live mode
/// sends one call at a time in time order anyway, so it blocks its one thread on each gRPC call
/// instead of awaiting it.
/// </remarks>
public interface IReplayBackend
{
    /// <summary>Makes the pseudonym known (and linked to its cluster root, for a linked sybil split) when the replay makes it, before its first request.</summary>
    void OpenAccount(SimulatedAccount account, long now);

    /// <summary>Asks for admission of one job as a lease.</summary>
    AuthorizeAnswer Authorize(SimulatedAccount account, string leaseId, TraceJob job, long now);

    /// <summary>The provider attests usage of an admitted lease over an interval ending at <paramref name="now"/>.</summary>
    /// <param name="part">The attestation's number within the lease (0, 1, ...): its id is <see cref="ReplayLease.AttestationId"/>.</param>
    void Attest(SimulatedAccount account, string leaseId, TraceJob job, int part, long flopUnits, long gpuSeconds, long intervalStart, long now, bool final);

    /// <summary>The user completed a step-up: the pseudonym now holds the tier at <paramref name="tierLevel"/>.</summary>
    void StepUp(SimulatedAccount account, int tierLevel, RequirementKind requirement, long now);
}

/// <summary>A verdict and what it was judged on.</summary>
/// <param name="RequiredTierLevel">For REQUIRE_*, the tier the account must reach.</param>
public readonly record struct AuthorizeAnswer(Verdict Verdict, int? RequiredTierLevel, long FlopUnits, long GpuSeconds);

/// <summary>One pseudonymous account of the replay.</summary>
/// <param name="clusterRoot">The pseudonym whose cluster this one is linked into; null when unlinked.</param>
public sealed class SimulatedAccount(int index, SimulatedUser user, string pseudonym, SimulatedAccount? clusterRoot)
{
    public int Index { get; } = index;

    /// <summary>The trace account (the person) this pseudonym belongs to.</summary>
    public SimulatedUser User { get; } = user;

    public string Pseudonym { get; } = pseudonym;

    /// <summary>The root of the pseudonym's cluster of linked accounts; itself when unlinked.</summary>
    public SimulatedAccount ClusterRoot => clusterRoot ?? this;

    public int TierLevel { get; set; }

    /// <summary>While a step-up is in progress (until this time) the pseudonym's jobs wait.</summary>
    public long PendingUntil { get; set; } = long.MinValue;

    /// <summary>What a backend keeps for this pseudonym (the live mode's account id).</summary>
    public object? BackendState { get; set; }
}

/// <summary>How a trace job is asked for as a lease, the same way in both modes.</summary>
public static class ReplayLease
{
    /// <summary>
    /// Jobs are estimated at the dense BF16/FP16 peak, which is what enforcement assumes when a
    /// request names no precision (and what Epoch AI's method uses for training).
    /// </summary>
    public const PrecisionClass Precision = PrecisionClass.Bf16;

    /// <summary>
    /// The id of a lease's attestation number <paramref name="part"/>. Written only by a backend
    /// that sends it: the in-process replay keeps no exactly-once marks, so it never needs one.
    /// </summary>
    public static string AttestationId(string leaseId, int part) => $"{leaseId}-a{part}";
}
