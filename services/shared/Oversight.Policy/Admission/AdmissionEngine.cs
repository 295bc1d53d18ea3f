using Oversight.Policy.Accelerators;
using Oversight.Policy.Counters;
using Oversight.Policy.Decisions;
using Oversight.Policy.Documents;

namespace Oversight.Policy.Admission;

/// <summary>
/// The one entry point for admission and settlement, called by the enforcement service (on
/// Redis) and by the replay tool (in memory): a decision is written once. The store does one
/// atomic check-and-hold over the current tier's limits and returns the usage snapshot; the
/// verdict rule reads that snapshot. No I/O of its own; time comes in as "now".
/// </summary>
public sealed class AdmissionEngine(ICounterStore store, FlopEstimator estimator)
{
    /// <summary>The amounts a lease is judged on: its own FLOP estimate or count x peak x duration x utilisation.</summary>
    /// <exception cref="UnknownAcceleratorException">The model is not in the catalogue.</exception>
    public RequestAmounts Amounts(EffectivePolicy policy, LeaseRequest lease) => AmountsOf(estimator, policy, lease);

    /// <summary>
    /// The same amounts without an engine: what a lease would be judged on and, in the replay,
    /// what its provider attests (the replay runs every job at the policy's assumed utilisation).
    /// </summary>
    public static RequestAmounts AmountsOf(FlopEstimator estimator, EffectivePolicy policy, LeaseRequest lease) => new(
        lease.FlopUnits ?? estimator.EstimateUnits(lease.AcceleratorModel, lease.Precision, lease.AcceleratorCount, lease.DurationSeconds, policy.Document.Utilisation),
        FlopEstimator.GpuSeconds(lease.AcceleratorCount, lease.DurationSeconds));

    public async Task<AdmissionOutcome> AuthorizeAsync(
        EffectivePolicy policy, AccountRef account, AccountStanding standing, LeaseRequest lease, long now, CancellationToken cancellationToken = default)
    {
        var amounts = Amounts(policy, lease);
        var windows = CounterWindows(policy);
        // The store checks shared tiers against the tag's cluster subject ("*"), which for an
        // account alone in its tag equals its own figures: the rule must read the same figures,
        // also for a cluster's root (whose own id is the tag's).
        standing = standing with { Linked = true };
        var subjects = Subjects(account);

        // A suspended account is denied without holding anything, and a check-only call or
        // a suspended account only reads.
        var limits = standing.Suspended ? [] : CounterLimits(policy.LimitsFor(standing.TierLevel), account.AccountId);
        var hold = new HoldRequest(lease.LeaseId, account.AccountId, amounts.FlopUnits, amounts.GpuSeconds, now + policy.Document.HoldTtlSeconds);
        var result = await store.ReserveAsync(
            new ReserveCommand(account.Tag, now, windows, subjects, limits, hold, CheckOnly: lease.CheckOnly || standing.Suspended),
            cancellationToken);

        if (result.Status == ReserveStatus.EpochMissing)
        {
            return new AdmissionOutcome(AdmissionStatus.EpochMissing, null, amounts, null, 0);
        }

        var snapshot = ToUsageSnapshot(result.Snapshot);
        if (result.Status == ReserveStatus.AlreadyHeld)
        {
            // The snapshot already includes this lease's hold: judge nothing more on top of it.
            var replayed = VerdictRule.Decide(policy, standing, snapshot, new RequestAmounts(0, 0));
            if (!standing.Suspended && replayed.Verdict is not (Verdict.Allow or Verdict.AllowNearLimit))
            {
                // Usage settled since may have filled the window, but this lease was admitted and
                // still holds its reservation: the same lease gets the same answer.
                replayed = replayed with
                {
                    Verdict = Verdict.AllowNearLimit,
                    Message = $"lease {lease.LeaseId} already holds its reservation; {replayed.Message}",
                };
            }

            return new AdmissionOutcome(AdmissionStatus.Replayed, replayed, amounts, result.Hold, result.ExpiredHoldsPruned);
        }

        var decision = VerdictRule.Decide(policy, standing, snapshot, amounts);
        var allowed = decision.Verdict is Verdict.Allow or Verdict.AllowNearLimit;
        var admitted = result.Status == ReserveStatus.Admitted && !standing.Suspended;
        if (allowed != admitted)
        {
            // The store checked the very limits the rule reads, on the same snapshot; a
            // disagreement is a bug, and guessing either way would decide access wrongly.
            throw new InvalidOperationException(
                $"Store and verdict rule disagree for lease {lease.LeaseId}: store {result.Status}, rule {decision.Verdict}.");
        }

        var status = !allowed ? AdmissionStatus.NotReserved : lease.CheckOnly ? AdmissionStatus.Checked : AdmissionStatus.Reserved;
        return new AdmissionOutcome(status, decision, amounts, status == AdmissionStatus.Reserved ? result.Hold : null, result.ExpiredHoldsPruned);
    }

    /// <summary>Counts one attestation exactly once and reduces or releases its lease's hold.</summary>
    /// <param name="markRetentionSeconds">How long the "counted" mark is kept; null on the replay path (no redelivery there).</param>
    /// <param name="rebuilding">Settling into a tag being rebuilt from the ledger (its epoch is still missing).</param>
    public async Task<SettleResult> SettleAsync(
        EffectivePolicy policy, AccountRef account, UsageRecord usage, long now, long? markRetentionSeconds,
        CancellationToken cancellationToken = default, bool rebuilding = false)
    {
        var command = new SettleCommand(
            account.Tag, now, CounterWindows(policy), usage.AttestationId, account.AccountId, usage.LeaseId,
            usage.FlopUnits, usage.GpuSeconds, usage.IntervalEndUnixSeconds, usage.Final, markRetentionSeconds, rebuilding);
        return await store.SettleAsync(command, cancellationToken);
    }

    public Task<ReleaseResult> ReleaseAsync(AccountRef account, string leaseId, long now, CancellationToken cancellationToken = default) =>
        store.ReleaseAsync(account.Tag, leaseId, now, cancellationToken);

    /// <summary>The account's current figures, judged against its tier for a zero request.</summary>
    public async Task<(ReadStatus Status, Decision? Decision, CounterSnapshot Snapshot)> ReadAsync(
        EffectivePolicy policy, AccountRef account, AccountStanding standing, long now, CancellationToken cancellationToken = default)
    {
        var result = await store.ReadAsync(account.Tag, now, CounterWindows(policy), Subjects(account), cancellationToken);
        if (result.Status == ReadStatus.EpochMissing)
        {
            return (result.Status, null, result.Snapshot);
        }

        var decision = VerdictRule.Decide(policy, standing with { Suspended = false, Linked = true }, ToUsageSnapshot(result.Snapshot), new RequestAmounts(0, 0));
        return (result.Status, decision, result.Snapshot);
    }

    /// <summary>The policy's windows as the store counts them (a lifetime window has no buckets); built once per policy.</summary>
    public static IReadOnlyList<CounterWindow> CounterWindows(EffectivePolicy policy) => policy.CounterWindows;

    private static CounterLimit[] CounterLimits(IReadOnlyList<LimitCheck> checks, string accountId)
    {
        var limits = new CounterLimit[checks.Count];
        for (var i = 0; i < limits.Length; i++)
        {
            var check = checks[i];
            limits[i] = new CounterLimit(check.SharedByCluster ? CounterSubject.Cluster : accountId, check.WindowId, check.Metric, check.Limit);
        }

        return limits;
    }

    private static IReadOnlyList<string> Subjects(AccountRef account) => [account.AccountId, CounterSubject.Cluster];

    private static UsageSnapshot ToUsageSnapshot(CounterSnapshot counters)
    {
        var snapshot = new UsageSnapshot.Builder(counters.Readings.Count);
        foreach (var reading in counters.Readings)
        {
            var subject = reading.Subject == CounterSubject.Cluster ? SubjectKind.Cluster : SubjectKind.Own;
            snapshot.Set(subject, reading.WindowId, reading.Metric, reading.Usage, reading.Held);
        }

        return snapshot.Build();
    }
}
