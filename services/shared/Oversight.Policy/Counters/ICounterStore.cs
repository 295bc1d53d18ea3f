namespace Oversight.Policy.Counters;

/// <summary>
/// The store of usage counters and holds (reservations) that enforcement decides against.
/// The store does not decide: the policy core chooses the limits and reads the snapshot; the
/// store does one atomic step per call. Implemented by <see cref="InMemoryCounterStore"/> and by
/// the Redis store (Oversight.Enforcement.Redis); one conformance suite runs against both.
/// </summary>
/// <remarks>
/// <para><b>Tags.</b> A tag names one scope whose counters one atomic step may touch:
/// <c>&lt;marketplace&gt;:&lt;cluster root account&gt;</c> (see <see cref="CounterTag.For"/>).
/// Linked accounts (one sybil cluster) share their root's tag. In Redis every key of a tag is
/// <c>ovs:{&lt;tag&gt;}:...</c>; the braces are the Redis Cluster hash tag, so one script's keys
/// share one slot.</para>
/// <para><b>Subjects.</b> Within a tag, counters and holds are kept per subject: an account id for
/// that account's own counters and <see cref="CounterSubject.Cluster"/> (<c>"*"</c>) for the sum
/// over every account of the tag. Settlement adds to both the account's and the cluster's
/// counters. The held amount of an account is the sum of its live holds; of <c>"*"</c>, the sum of
/// every live hold of the tag.</para>
/// <para><b>Windows.</b> <see cref="CounterWindow"/>: usage at time <c>at</c> goes into bucket
/// <c>i = floor(at / B)</c>. A rolling window of length <c>L</c> read at <c>now</c> counts bucket
/// <c>i</c> iff <c>(i + 1) * B &gt; now - L</c>: bucket-granular and conservative (a bucket counts
/// until its whole span has left the window; buckets in the future count too). Buckets with
/// <c>(i + 1) * B &lt;= now - L</c> are pruned. A lifetime window (<c>LengthSeconds == null</c>)
/// counts everything. A window id's bucket size must never change: give a changed window a new
/// id (and rebuild).</para>
/// <para><b>Metrics.</b> <see cref="Metric.FlopUnits"/> (10^12 FLOP, rounded up per
/// attestation) and <see cref="Metric.GpuSeconds"/>, int64, well inside the 2^53 that Redis
/// Lua numbers hold exactly.</para>
/// <para><b>Time.</b> Every operation takes <c>now</c> (Unix seconds) from the caller's
/// <see cref="TimeProvider"/>; the store never uses its own clock, so a simulation clock works.
/// Expired holds (<c>ExpiresAt &lt;= now</c>), expired marks and old buckets are pruned by the
/// operations themselves; Redis key TTLs are only a loose clean-up well beyond the longest
/// window.</para>
/// <para><b>Epoch.</b> Every operation except <see cref="InitializeTagAsync"/>,
/// <see cref="ResetTagAsync"/> and <see cref="GetEpochAsync"/> first checks the tag's epoch marker.
/// When it is missing (the shard lost its data, or the tag was never initialised) the operation
/// changes nothing and returns status <c>EpochMissing</c>: the caller fails closed, resets the tag,
/// rebuilds it from the ledger and then initialises it. <c>EpochMissing</c> is a normal outcome,
/// not an exception.</para>
/// <para><b>Exactly once.</b> <see cref="SettleAsync"/> counts an attestation and marks its id as
/// counted in the same atomic step: a failed step never marks an event, and a marked event is
/// always counted (the opposite of SET NX before the write, OpenMeter issue 5118). Marks are kept
/// for <see cref="SettleCommand.MarkRetentionSeconds"/>; once a mark has expired the same id would
/// be counted again, which is why the caller must not settle live an event older than the
/// retention (it triggers a rebuild of the tag instead). The replay path passes no retention and
/// keeps no marks.</para>
/// <para><b>Errors.</b> Invalid arguments throw <see cref="ArgumentException"/> (amounts below zero:
/// <see cref="ArgumentOutOfRangeException"/>) before the store is touched. Storage errors
/// (RedisException, timeouts) always propagate: they are never swallowed, because a silent
/// undercount is a security bug.</para>
/// </remarks>
public interface ICounterStore
{
    /// <summary>The tag's epoch marker, or null when it is missing.</summary>
    Task<string?> GetEpochAsync(string tag, CancellationToken cancellationToken = default);

    /// <summary>Writes the tag's epoch marker (at start, and after a rebuild); the tag then serves.</summary>
    Task InitializeTagAsync(string tag, string epoch, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes everything of the tag: epoch marker first (so it fails closed at once), then
    /// counters, marks and (unless <paramref name="keepHolds"/>) holds. Used before a rebuild from
    /// the ledger.
    /// </summary>
    /// <param name="keepHolds">Keep the live holds as they are. Holds are not in the ledger, and
    /// dropping them would hand out budget that running leases still use; a rebuild's settles
    /// (<see cref="SettleCommand.Rebuilding"/>) leave holds alone, because the kept holds already
    /// reflect what was settled live.</param>
    Task ResetTagAsync(string tag, bool keepHolds = false, CancellationToken cancellationToken = default);

    /// <summary>
    /// The admission step, atomic across every window and subject: prunes expired holds; if the
    /// lease already has a live hold returns <see cref="ReserveStatus.AlreadyHeld"/> with it and
    /// changes nothing; otherwise checks for every limit
    /// <c>usage(subject, window, metric) + held(subject, metric) + amount(metric) &lt;= limit</c>
    /// (an amount of 0 always passes) and, if all pass and the command is not check-only, adds the
    /// hold (<see cref="ReserveStatus.Admitted"/>); if any fails nothing is added
    /// (<see cref="ReserveStatus.Refused"/>). The snapshot shows usage and held as they were
    /// <b>before</b> this request's hold was added, whatever the status, so the caller can compute
    /// usage + held + request consistently. For <see cref="ReserveStatus.AlreadyHeld"/> the held
    /// amounts include the existing hold of this lease.
    /// </summary>
    Task<ReserveResult> ReserveAsync(ReserveCommand command, CancellationToken cancellationToken = default);

    /// <summary>
    /// Exactly-once counting, atomic: prunes expired holds and marks; if the attestation id is
    /// marked returns <see cref="SettleStatus.Duplicate"/> and changes nothing; otherwise adds the
    /// amounts at bucket(<see cref="SettleCommand.At"/>) in every window for the account and for
    /// <c>"*"</c>, reduces the lease's hold by the amounts (not below zero) or deletes it when
    /// final, and marks the id (when a retention is given). Only the account's own hold: one that
    /// another account of the tag holds under the same lease id stays as it is (the usage still
    /// counts, as usage without a reservation does, and <see cref="SettleResult.HoldFound"/> is
    /// false), for the same reason as in <see cref="ReleaseAsync"/>.
    /// </summary>
    Task<SettleResult> SettleAsync(SettleCommand command, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes a lease's live hold when <paramref name="accountId"/> holds it. An expired or unknown
    /// hold, and one another account of the tag holds under the same lease id, is
    /// <see cref="ReleaseStatus.NotFound"/> and stays: linked accounts share a tag, and one must not
    /// free the budget another's running lease uses (as in <see cref="ReserveAsync"/>, the same id
    /// from another account is another lease).
    /// </summary>
    Task<ReleaseResult> ReleaseAsync(string tag, string leaseId, string accountId, long now, CancellationToken cancellationToken = default);

    /// <summary>Usage and held for every subject x window x metric (same shape as the reserve snapshot).</summary>
    Task<ReadResult> ReadAsync(string tag, long now, IReadOnlyList<CounterWindow> windows, IReadOnlyList<string> subjects, CancellationToken cancellationToken = default);

    /// <summary>
    /// The tag's live holds (expired ones are pruned first), in lease id order, whether or not its
    /// epoch is present: what a rebuild of another tag takes over when a link moves accounts there
    /// (<see cref="RestoreHoldsAsync"/>). Changes nothing else.
    /// </summary>
    Task<IReadOnlyList<CounterHold>> ReadHoldsAsync(string tag, long now, CancellationToken cancellationToken = default);

    /// <summary>
    /// Puts holds as they are into a tag being rebuilt (after <see cref="ResetTagAsync"/>, before
    /// <see cref="InitializeTagAsync"/>). A lease already held in the tag is replaced; a hold
    /// expired by <paramref name="now"/> is left out.
    /// </summary>
    Task RestoreHoldsAsync(string tag, long now, IReadOnlyList<CounterHold> holds, CancellationToken cancellationToken = default);
}
