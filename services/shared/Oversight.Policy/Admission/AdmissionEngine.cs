using System.Globalization;
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
        standing = AsStored(standing);

        // A suspended account is denied without holding anything, and a check-only call or
        // a suspended account only reads.
        var limits = standing.Suspended ? [] : CounterLimits(policy.LimitsFor(standing.TierLevel), account.AccountId);
        var terms = TermsOf(lease);
        var hold = new HoldRequest(lease.LeaseId, account.AccountId, amounts.FlopUnits, amounts.GpuSeconds, now + policy.Document.HoldTtlSeconds, terms);
        var result = await store.ReserveAsync(
            new ReserveCommand(account.Tag, now, policy.CounterWindows, Subjects(account), limits, hold, CheckOnly: lease.CheckOnly || standing.Suspended),
            cancellationToken);

        if (result.Status == ReserveStatus.EpochMissing)
        {
            return new AdmissionOutcome(AdmissionStatus.EpochMissing, null, amounts, null, 0);
        }

        if (result is { Status: ReserveStatus.AlreadyHeld, Hold: { } existing }
            && (existing.AccountId != account.AccountId || (existing.Terms is { } held && held != terms)))
        {
            // The same id for another lease (other terms, or another account of the same cluster):
            // answering with the first one's reservation would admit this one unjudged. A hold kept
            // without terms (made before they were kept) is taken as a repeat.
            return new AdmissionOutcome(AdmissionStatus.OtherTerms, null, amounts, existing, result.ExpiredHoldsPruned);
        }

        var figures = ToFigures(policy.Layout, result.Snapshot);
        var judged = Judge(policy, standing, result.Status, figures, amounts, lease);
        var decision = VerdictRule.Explain(policy, standing, figures, judged.Judged, judged.Ruling);
        if (judged.Status == AdmissionStatus.Replayed && judged.Verdict != decision.Verdict)
        {
            decision = decision with
            {
                Verdict = judged.Verdict,
                Message = $"lease {lease.LeaseId} already holds its reservation; {decision.Message}",
            };
        }

        var hasHold = judged.Status is AdmissionStatus.Reserved or AdmissionStatus.Replayed;
        return new AdmissionOutcome(judged.Status, decision, amounts, hasHold ? result.Hold : null, result.ExpiredHoldsPruned);
    }

    /// <summary>
    /// <see cref="AuthorizeAsync"/> on the in-memory store's allocation-free path, for the replay:
    /// the same amounts, limits, hold and verdict rule, but the decision is not explained (no
    /// windows, no sentence) and no hold is returned.
    /// </summary>
    /// <exception cref="InvalidOperationException">The engine's store is not an <see cref="InMemoryCounterStore"/>.</exception>
    /// <exception cref="ArgumentException">The handle is another store's.</exception>
    public AdmissionVerdict Authorize(EffectivePolicy policy, CounterHandle account, AccountStanding standing, LeaseRequest lease, long now)
    {
        var store = InMemory(account);
        var amounts = Amounts(policy, lease);
        standing = AsStored(standing);
        // On the stack for any ordinary policy (16 windows); a policy with more windows gets an array.
        // Exactly as many as the layout has: the runtime clears what is taken on the stack.
        var count = policy.Layout.FigureCount;
        var figures = count <= 64 ? stackalloc UsageFigures[count] : new UsageFigures[count];
        var status = store.Reserve(
            account, policy.Layout, now, standing.Suspended ? [] : policy.LayoutLimitsFor(standing.TierLevel),
            lease.LeaseId, amounts.FlopUnits, amounts.GpuSeconds, now + policy.Document.HoldTtlSeconds, lease.CheckOnly || standing.Suspended, figures);
        if (status == ReserveStatus.EpochMissing)
        {
            return new AdmissionVerdict(AdmissionStatus.EpochMissing, Verdict.Unspecified, null, amounts);
        }

        // As on the enforcement path, another account of the cluster under the same lease id is
        // another lease. This path keeps no terms: the replay never gives one lease id other terms.
        if (status == ReserveStatus.AlreadyHeld && store.HolderOf(account, lease.LeaseId, now) != account.AccountId)
        {
            return new AdmissionVerdict(AdmissionStatus.OtherTerms, Verdict.Unspecified, null, amounts);
        }

        var judged = Judge(policy, standing, status, figures, amounts, lease);
        return new AdmissionVerdict(judged.Status, judged.Verdict, judged.Ruling.RequiredTierLevel, amounts);
    }

    /// <summary>
    /// What a lease asks for, kept with its hold: model (as the catalogue keys it), count, duration,
    /// precision and the caller's own FLOP figure. A repeat under the same lease id must ask the same.
    /// </summary>
    public static string TermsOf(LeaseRequest lease) => string.Create(CultureInfo.InvariantCulture,
        $"{AcceleratorCatalogue.Key(lease.AcceleratorModel)}|{lease.AcceleratorCount}|{lease.DurationSeconds}|{lease.Precision}|{lease.FlopUnits}");

    // The store checks shared tiers against the tag's cluster subject ("*"), which for an account
    // alone in its tag equals its own figures: the rule must read the same figures, also for a
    // cluster's root (whose own id is the tag's).
    private static AccountStanding AsStored(AccountStanding standing) => standing with { Linked = true };

    /// <summary>
    /// What the store's answer and the verdict rule make of a request: written once for both the
    /// enforcement path and the replay's allocation-free path.
    /// </summary>
    private static (AdmissionStatus Status, Verdict Verdict, Ruling Ruling, RequestAmounts Judged) Judge(
        EffectivePolicy policy, AccountStanding standing, ReserveStatus stored, ReadOnlySpan<UsageFigures> figures, RequestAmounts amounts, LeaseRequest lease)
    {
        if (stored == ReserveStatus.AlreadyHeld)
        {
            // The snapshot already includes this lease's hold: judge nothing more on top of it.
            var zero = new RequestAmounts(0, 0);
            var replayed = VerdictRule.Rule(policy, standing, figures, zero);
            // Usage settled since may have filled the window, but this lease was admitted and still
            // holds its reservation: the same lease gets the same answer.
            var verdict = !standing.Suspended && replayed.Verdict is not (Verdict.Allow or Verdict.AllowNearLimit)
                ? Verdict.AllowNearLimit
                : replayed.Verdict;
            return (AdmissionStatus.Replayed, verdict, replayed, zero);
        }

        var ruling = VerdictRule.Rule(policy, standing, figures, amounts);
        var allowed = ruling.Verdict is Verdict.Allow or Verdict.AllowNearLimit;
        var admitted = stored == ReserveStatus.Admitted && !standing.Suspended;
        if (allowed != admitted)
        {
            // The store checked the very limits the rule reads, on the same snapshot; a
            // disagreement is a bug, and guessing either way would decide access wrongly.
            throw new InvalidOperationException(
                $"Store and verdict rule disagree for lease {lease.LeaseId}: store {stored}, rule {ruling.Verdict}.");
        }

        var status = !allowed ? AdmissionStatus.NotReserved : lease.CheckOnly ? AdmissionStatus.Checked : AdmissionStatus.Reserved;
        return (status, ruling.Verdict, ruling, amounts);
    }

    /// <summary>Counts one attestation exactly once and reduces or releases its lease's hold.</summary>
    /// <param name="markRetentionSeconds">How long the "counted" mark is kept; null on the replay path (no redelivery there).</param>
    /// <param name="rebuilding">Settling into a tag being rebuilt from the ledger (its epoch is still missing).</param>
    public async Task<SettleResult> SettleAsync(
        EffectivePolicy policy, AccountRef account, UsageRecord usage, long now, long? markRetentionSeconds,
        CancellationToken cancellationToken = default, bool rebuilding = false)
    {
        var command = new SettleCommand(
            account.Tag, now, policy.CounterWindows, usage.AttestationId, account.AccountId, usage.LeaseId,
            usage.FlopUnits, usage.GpuSeconds, usage.IntervalEndUnixSeconds, usage.Final, markRetentionSeconds, rebuilding);
        return await store.SettleAsync(command, cancellationToken);
    }

    /// <summary>
    /// <see cref="SettleAsync"/> on the in-memory store's allocation-free path, without an
    /// exactly-once mark: for the replay, which never delivers an attestation twice.
    /// </summary>
    public SettleStatus Settle(
        EffectivePolicy policy, CounterHandle account, string? leaseId, long flopUnits, long gpuSeconds, long intervalEnd, bool final, long now) =>
        InMemory(account).Settle(account, policy.Layout, now, leaseId, flopUnits, gpuSeconds, intervalEnd, final);

    private InMemoryCounterStore InMemory(CounterHandle account)
    {
        var inMemory = store as InMemoryCounterStore
            ?? throw new InvalidOperationException("the allocation-free path needs the engine to run on an InMemoryCounterStore");
        return account.IsOf(inMemory) ? inMemory : throw new ArgumentException("the handle is of another store", nameof(account));
    }

    public Task<ReleaseResult> ReleaseAsync(AccountRef account, string leaseId, long now, CancellationToken cancellationToken = default) =>
        store.ReleaseAsync(account.Tag, leaseId, account.AccountId, now, cancellationToken);

    /// <summary>The account's current figures, judged against its tier for a zero request.</summary>
    public async Task<(ReadStatus Status, Decision? Decision, CounterSnapshot Snapshot)> ReadAsync(
        EffectivePolicy policy, AccountRef account, AccountStanding standing, long now, CancellationToken cancellationToken = default)
    {
        var result = await store.ReadAsync(account.Tag, now, policy.CounterWindows, Subjects(account), cancellationToken);
        if (result.Status == ReadStatus.EpochMissing)
        {
            return (result.Status, null, result.Snapshot);
        }

        var zero = new RequestAmounts(0, 0);
        var read = AsStored(standing) with { Suspended = false };
        var figures = ToFigures(policy.Layout, result.Snapshot);
        return (result.Status, VerdictRule.Explain(policy, read, figures, zero, VerdictRule.Rule(policy, read, figures, zero)), result.Snapshot);
    }

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

    /// <summary>A store's readings for [account, "*"] in the policy's layout (the account's own first).</summary>
    private static UsageFigures[] ToFigures(CounterLayout layout, CounterSnapshot counters)
    {
        var figures = new UsageFigures[layout.FigureCount];
        figures.AsSpan().Fill(UsageSnapshot.Missing);
        foreach (var reading in counters.Readings)
        {
            var window = layout.WindowIndex(reading.WindowId);
            if (window >= 0)
            {
                var subject = reading.Subject == CounterSubject.Cluster ? SubjectKind.Cluster : SubjectKind.Own;
                figures[layout.FigureIndex(subject, window, reading.Metric)] = new UsageFigures(reading.Usage, reading.Held);
            }
        }

        return figures;
    }
}
