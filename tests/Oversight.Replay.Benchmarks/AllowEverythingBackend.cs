using Oversight.Policy;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Benchmarks;

/// <summary>
/// A backend that decides nothing: every job is allowed and nothing is counted. With it the
/// benchmark measures the simulator alone (--simulator-only), so that the cost of a decision can
/// be told from the cost of playing the users.
/// </summary>
internal sealed class AllowEverythingBackend : IReplayBackend
{
    public void OpenAccount(SimulatedAccount account, long now)
    {
    }

    public AuthorizeAnswer Authorize(SimulatedAccount account, string leaseId, TraceJob job, long now) =>
        new(Verdict.Allow, null, 0, 0);

    public void Attest(SimulatedAccount account, string leaseId, TraceJob job, int part, long flopUnits, long gpuSeconds, long intervalStart, long now, bool final)
    {
    }

    public void StepUp(SimulatedAccount account, int tierLevel, RequirementKind requirement, long now)
    {
    }
}
