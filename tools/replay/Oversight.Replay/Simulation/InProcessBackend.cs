using System.Globalization;
using Oversight.Policy;
using Oversight.Policy.Accelerators;
using Oversight.Policy.Admission;
using Oversight.Policy.Counters;
using Oversight.Policy.Decisions;
using Oversight.Policy.Documents;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Simulation;

/// <summary>
/// Decides in this process with the enforcement service's own entry point: <see cref="AdmissionEngine"/>
/// on an <see cref="InMemoryCounterStore"/> (the same store the embedded default uses, whose
/// semantics a conformance suite checks against the Redis store), on its allocation-free path.
/// Settles without exactly-once marks: the replay has no redelivery (DESIGN.md "Exactly once").
/// </summary>
public sealed class InProcessBackend : IReplayBackend
{
    private const string Epoch = "replay";
    private readonly EffectivePolicy _policy;
    private readonly InMemoryCounterStore _store = new();
    private readonly AdmissionEngine _engine;

    public InProcessBackend(EffectivePolicy policy)
    {
        _policy = policy;
        _engine = new AdmissionEngine(_store, new FlopEstimator(AcceleratorCatalogue.Default));
    }

    public void OpenAccount(SimulatedAccount account, long now)
    {
        var reference = new AccountRef(_policy.MarketplaceId ?? "replay", StoreId(account), StoreId(account.ClusterRoot));
        if (!reference.Linked)
        {
            _store.InitializeTag(reference.Tag, Epoch);
        }

        account.BackendState = _store.Handle(reference.Tag, reference.AccountId, _policy.Layout);
    }

    // The engine's allocation-free path: the same amounts, limits, holds and verdict rule as the
    // enforcement service's AuthorizeAsync, without the explanation the replay never reads.
    public AuthorizeAnswer Authorize(SimulatedAccount account, string leaseId, TraceJob job, long now)
    {
        var lease = new LeaseRequest(leaseId, job.AcceleratorModel, job.AcceleratorCount, job.DurationSeconds, ReplayLease.Precision, job.FlopUnits, CheckOnly: false);
        var outcome = _engine.Authorize(_policy, Handle(account), new AccountStanding(account.TierLevel), lease, now);
        if (outcome.Status is AdmissionStatus.EpochMissing or AdmissionStatus.OtherTerms)
        {
            throw new InvalidOperationException($"no decision for lease {leaseId}: {outcome.Status}");
        }

        return new AuthorizeAnswer(outcome.Verdict, outcome.RequiredTierLevel, outcome.Requested.FlopUnits, outcome.Requested.GpuSeconds);
    }

    public void Attest(SimulatedAccount account, string leaseId, TraceJob job, int part, long flopUnits, long gpuSeconds, long intervalStart, long now, bool final)
    {
        var status = _engine.Settle(_policy, Handle(account), leaseId, flopUnits, gpuSeconds, now, final, now);
        if (status != SettleStatus.Applied)
        {
            throw new InvalidOperationException($"attestation {ReplayLease.AttestationId(leaseId, part)} was not counted: {status}");
        }
    }

    public void StepUp(SimulatedAccount account, int tierLevel, RequirementKind requirement, long now)
    {
    }

    // The store's ids allow only [A-Za-z0-9._:-]: neither the '~' of sybil pseudonyms nor every
    // trace's account names (e-mail addresses, spaces) fit, so the store knows each pseudonym by its index.
    private static string StoreId(SimulatedAccount account) => "a" + account.Index.ToString(CultureInfo.InvariantCulture);

    private static CounterHandle Handle(SimulatedAccount account) =>
        account.BackendState as CounterHandle ?? throw new InvalidOperationException($"account {account.Pseudonym} was not opened");
}
