namespace Oversight.Policy.Counters;

/// <summary>
/// A counting window. <paramref name="LengthSeconds"/> null is a lifetime window (counts
/// everything; <paramref name="BucketSeconds"/> is then ignored but must still be positive).
/// Usage at <c>at</c> falls into bucket <c>floor(at / BucketSeconds)</c>; a rolling window at
/// <c>now</c> counts bucket <c>i</c> iff <c>(i + 1) * BucketSeconds &gt; now - LengthSeconds</c>.
/// <paramref name="Id"/>: letters, digits, '.', '_' and '-' (no ':'; it is a key component).
/// </summary>
public sealed record CounterWindow(string Id, long? LengthSeconds, long BucketSeconds)
{
    /// <summary>A lifetime window (never resets).</summary>
    public static CounterWindow Lifetime(string id) => new(id, null, 1);

    /// <summary>A rolling window of <paramref name="length"/> counted in buckets of <paramref name="bucket"/>.</summary>
    public static CounterWindow Rolling(string id, TimeSpan length, TimeSpan bucket) =>
        new(id, (long)length.TotalSeconds, (long)bucket.TotalSeconds);

    public bool IsLifetime => LengthSeconds is null;

    /// <summary>
    /// The longest length or bucket a window may have (2^40 s, about 35,000 years). With it, and
    /// times below <see cref="MaxTime"/>, a bucket's end plus a length stays far inside int64, so
    /// the stores compare times without dividing and without overflowing.
    /// </summary>
    public const long MaxSeconds = 1L << 40;

    /// <summary>The latest time a usage may be counted at (2^62 s).</summary>
    public const long MaxTime = 1L << 62;
}

/// <summary>One check of a reserve: usage + held + the request's amount of <paramref name="Metric"/> must stay &lt;= <paramref name="Limit"/>.</summary>
public sealed record CounterLimit(string Subject, string WindowId, Metric Metric, long Limit);

/// <summary>The hold a reserve asks for; the lease id is the idempotency key.</summary>
/// <param name="Terms">What the lease asked for, kept with the hold and returned with it when the
/// lease id comes again, so the caller can tell a repeat from another lease under the same id
/// (at most <see cref="CounterHold.MaxTermsLength"/> characters); null keeps none.</param>
public sealed record HoldRequest(string LeaseId, string AccountId, long FlopUnits, long GpuSeconds, long ExpiresAt, string? Terms = null);

/// <summary>A live hold as stored (its amounts shrink as partial attestations settle).</summary>
/// <param name="Terms">The terms given when it was made, or null when none were.</param>
public sealed record CounterHold(string LeaseId, string AccountId, long FlopUnits, long GpuSeconds, long ExpiresAt, string? Terms = null)
{
    public const int MaxTermsLength = 512;

    /// <summary>Throws when an id is malformed, an amount below zero or the terms too long.</summary>
    internal static void Validate(string leaseId, string accountId, long flopUnits, long gpuSeconds, string parameter, string? terms = null)
    {
        CounterIds.ValidateOpaqueId(leaseId, parameter);
        CounterIds.ValidateAccount(accountId, parameter);
        ArgumentOutOfRangeException.ThrowIfNegative(flopUnits, parameter);
        ArgumentOutOfRangeException.ThrowIfNegative(gpuSeconds, parameter);
        if (terms is { Length: > MaxTermsLength })
        {
            throw new ArgumentException($"A hold's terms must be at most {MaxTermsLength} characters.", parameter);
        }
    }

    /// <summary>Throws when the list or any hold in it is malformed.</summary>
    public static void ValidateAll(IReadOnlyList<CounterHold> holds)
    {
        ArgumentNullException.ThrowIfNull(holds);
        foreach (var hold in holds)
        {
            ArgumentNullException.ThrowIfNull(hold, nameof(holds));
            Validate(hold.LeaseId, hold.AccountId, hold.FlopUnits, hold.GpuSeconds, nameof(holds), hold.Terms);
        }
    }
}

/// <summary>
/// One reading: usage of <paramref name="Subject"/> in <paramref name="WindowId"/> for
/// <paramref name="Metric"/>, the subject's held amount of that metric (holds do not belong to a
/// window, so it is the same for every window), and for a rolling window with usage the time at
/// which the oldest counted bucket leaves the window (<c>(i + 1) * B + L</c>), else null.
/// </summary>
public sealed record CounterReading(string Subject, string WindowId, Metric Metric, long Usage, long Held, long? ResetsAt);

/// <summary>Readings in the order subject, then window, then metric (FlopUnits before GpuSeconds).</summary>
public sealed class CounterSnapshot
{
    public static CounterSnapshot Empty { get; } = new([]);

    public CounterSnapshot(IReadOnlyList<CounterReading> readings) => Readings = readings;

    public IReadOnlyList<CounterReading> Readings { get; }

    /// <summary>The reading for (subject, window, metric), or null when the snapshot has none.</summary>
    public CounterReading? Find(string subject, string windowId, Metric metric)
    {
        foreach (var r in Readings)
        {
            if (r.Metric == metric && string.Equals(r.WindowId, windowId, StringComparison.Ordinal)
                && string.Equals(r.Subject, subject, StringComparison.Ordinal))
            {
                return r;
            }
        }

        return null;
    }

    /// <summary>The reading for (subject, window, metric); throws when the snapshot has none.</summary>
    public CounterReading Get(string subject, string windowId, Metric metric) =>
        Find(subject, windowId, metric)
        ?? throw new KeyNotFoundException($"No reading for subject '{subject}', window '{windowId}', metric {metric}.");
}

/// <summary>The admission step. See <see cref="ICounterStore.ReserveAsync"/>.</summary>
/// <param name="Tag">The hash-tag scope, <c>&lt;marketplace&gt;:&lt;cluster root&gt;</c>.</param>
/// <param name="Now">Unix seconds, from the caller's clock.</param>
/// <param name="Windows">The windows to read (every limit's window must be among them).</param>
/// <param name="Subjects">The subjects to return readings for, typically [account, "*"].</param>
/// <param name="Limits">Every check that must hold; may name subjects not in <paramref name="Subjects"/>.</param>
/// <param name="Hold">The hold to add; its amounts are the request's amounts.</param>
/// <param name="CheckOnly">Check and return the snapshot, but add no hold.</param>
public sealed record ReserveCommand(
    string Tag,
    long Now,
    IReadOnlyList<CounterWindow> Windows,
    IReadOnlyList<string> Subjects,
    IReadOnlyList<CounterLimit> Limits,
    HoldRequest Hold,
    bool CheckOnly = false)
{
    /// <summary>Throws when the command is malformed (called by every store before it touches its state).</summary>
    public void Validate()
    {
        CounterIds.ValidateTag(Tag);
        CounterIds.ValidateWindows(Windows);
        CounterIds.ValidateSubjects(Subjects);
        ArgumentNullException.ThrowIfNull(Limits);
        ArgumentNullException.ThrowIfNull(Hold);
        foreach (var limit in Limits)
        {
            ArgumentNullException.ThrowIfNull(limit, nameof(Limits));
            CounterIds.ValidateSubject(limit.Subject, nameof(Limits));
            if (!CounterIds.ContainsWindow(Windows, limit.WindowId))
            {
                throw new ArgumentException($"Limit names window '{limit.WindowId}', which is not among the command's windows.", nameof(Limits));
            }

            if (limit.Metric is not (Metric.FlopUnits or Metric.GpuSeconds))
            {
                throw new ArgumentOutOfRangeException(nameof(Limits), limit.Metric, "Unknown metric.");
            }

            ArgumentOutOfRangeException.ThrowIfNegative(limit.Limit, nameof(Limits));
        }

        CounterHold.Validate(Hold.LeaseId, Hold.AccountId, Hold.FlopUnits, Hold.GpuSeconds, nameof(Hold), Hold.Terms);
        if (!CheckOnly && Hold.ExpiresAt <= Now)
        {
            throw new ArgumentOutOfRangeException(nameof(Hold), Hold.ExpiresAt, "A hold must expire after now.");
        }
    }
}

public enum ReserveStatus
{
    /// <summary>Every limit holds; the hold was added (not for a check-only command).</summary>
    Admitted = 1,

    /// <summary>At least one limit would be exceeded; nothing was added.</summary>
    Refused = 2,

    /// <summary>The lease already has a live hold; it is returned and nothing changed.</summary>
    AlreadyHeld = 3,

    /// <summary>The tag's epoch marker is missing; nothing changed.</summary>
    EpochMissing = 4,
}

/// <summary>The outcome of a reserve.</summary>
/// <param name="Status">What happened.</param>
/// <param name="Snapshot">Readings for the command's subjects x windows x metrics, as they were before this request's hold was added (empty for EpochMissing).</param>
/// <param name="ExpiredHoldsPruned">How many expired holds this call removed.</param>
/// <param name="Hold">The hold added (Admitted, not check-only) or the existing one (AlreadyHeld); else null.</param>
/// <param name="FailedLimits">Indexes into the command's limits that failed (Refused only).</param>
public sealed record ReserveResult(
    ReserveStatus Status,
    CounterSnapshot Snapshot,
    int ExpiredHoldsPruned,
    CounterHold? Hold,
    IReadOnlyList<int> FailedLimits)
{
    public static ReserveResult EpochMissing { get; } = new(ReserveStatus.EpochMissing, CounterSnapshot.Empty, 0, null, []);
}

/// <summary>Exactly-once counting of one attestation. See <see cref="ICounterStore.SettleAsync"/>.</summary>
/// <param name="Tag">The hash-tag scope.</param>
/// <param name="Now">Unix seconds, from the caller's clock (prunes holds and marks; the mark's expiry is now + retention).</param>
/// <param name="Windows">Every window to count in.</param>
/// <param name="AttestationId">
/// The exactly-once key: the attestation's <see cref="CountedMark"/> (attestation ids are unique
/// per provider only), or its bare id for an event published before that (see docs/design.md).
/// </param>
/// <param name="AccountId">The account whose counters (and the cluster's) grow.</param>
/// <param name="LeaseId">The lease whose hold shrinks when <paramref name="AccountId"/> holds it; null for usage without a lease.</param>
/// <param name="FlopUnits">Amount counted, &gt;= 0.</param>
/// <param name="GpuSeconds">Amount counted, &gt;= 0.</param>
/// <param name="At">The attestation's interval end (Unix seconds): the bucket it counts in.</param>
/// <param name="Final">The lease's last attestation: its remaining hold is released.</param>
/// <param name="MarkRetentionSeconds">
/// How long after <paramref name="Now"/> the id stays marked as counted (the mark expires at
/// <c>Now + MarkRetentionSeconds</c>); null keeps no mark (the replay path). A rebuild that restores
/// the marks of events still within the retention passes what is left of it
/// (<c>eventTime + retention - Now</c>) and null for older events.
/// </param>
/// <param name="Rebuilding">
/// A rebuild from the ledger settles while the tag's epoch is still missing, so that admission
/// keeps failing closed until the rebuild completes and initialises the tag. It counts and marks
/// but leaves holds alone (see <see cref="ICounterStore.ResetTagAsync"/>): <c>HoldFound</c> is false.
/// </param>
public sealed record SettleCommand(
    string Tag,
    long Now,
    IReadOnlyList<CounterWindow> Windows,
    string AttestationId,
    string AccountId,
    string? LeaseId,
    long FlopUnits,
    long GpuSeconds,
    long At,
    bool Final,
    long? MarkRetentionSeconds,
    bool Rebuilding = false)
{
    /// <summary>The checks of the usage itself, shared with the in-memory store's allocation-free settle.</summary>
    internal static void ValidateUsage(string? leaseId, long flopUnits, long gpuSeconds, long at)
    {
        if (leaseId is not null)
        {
            CounterIds.ValidateOpaqueId(leaseId, nameof(LeaseId));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(flopUnits, nameof(FlopUnits));
        ArgumentOutOfRangeException.ThrowIfNegative(gpuSeconds, nameof(GpuSeconds));
        ArgumentOutOfRangeException.ThrowIfNegative(at, nameof(At));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(at, CounterWindow.MaxTime, nameof(At));
    }

    /// <summary>Throws when the command is malformed (called by every store before it touches its state).</summary>
    public void Validate()
    {
        CounterIds.ValidateTag(Tag);
        CounterIds.ValidateWindows(Windows);
        CounterIds.ValidateOpaqueId(AttestationId, nameof(AttestationId));
        CounterIds.ValidateAccount(AccountId, nameof(AccountId));
        ValidateUsage(LeaseId, FlopUnits, GpuSeconds, At);
        if (MarkRetentionSeconds is { } retention)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(retention, nameof(MarkRetentionSeconds));
        }
    }
}

public enum SettleStatus
{
    /// <summary>Counted (and marked, when a retention was given).</summary>
    Applied = 1,

    /// <summary>The id is already marked as counted; nothing changed.</summary>
    Duplicate = 2,

    /// <summary>The tag's epoch marker is missing; nothing changed.</summary>
    EpochMissing = 3,
}

/// <summary>The outcome of a settle.</summary>
/// <param name="Status">What happened.</param>
/// <param name="ExpiredHoldsPruned">How many expired holds this call removed.</param>
/// <param name="HoldFound">Whether the account had a live hold of the lease (Applied only); false is usage
/// without a reservation of its own (none, expired, or another account's of the tag, which stays).</param>
public readonly record struct SettleResult(SettleStatus Status, int ExpiredHoldsPruned, bool HoldFound);

public enum ReleaseStatus
{
    Released = 1,

    /// <summary>No live hold of the account for the lease (never held, already released, settled final,
    /// expired, or held by another account of the tag).</summary>
    NotFound = 2,

    EpochMissing = 3,
}

public readonly record struct ReleaseResult(ReleaseStatus Status);

public enum ReadStatus
{
    Ok = 1,
    EpochMissing = 2,
}

/// <summary>The outcome of a read: readings for subjects x windows x metrics, or EpochMissing with an empty snapshot.</summary>
public sealed record ReadResult(ReadStatus Status, CounterSnapshot Snapshot, int ExpiredHoldsPruned)
{
    public static ReadResult EpochMissing { get; } = new(ReadStatus.EpochMissing, CounterSnapshot.Empty, 0);
}
