using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Oversight.Policy.Decisions;

namespace Oversight.Policy.Counters;

/// <summary>
/// The in-memory <see cref="ICounterStore"/>: the same semantics as the Redis store (one
/// conformance suite runs against both), for the embedded default, tests and the replay path.
/// Thread-safe with one lock per tag; time is always the caller's <c>now</c>.
/// </summary>
/// <remarks>
/// Besides the <see cref="ICounterStore"/> commands, the store has an allocation-free path for
/// replays of millions of events: a <see cref="CounterHandle"/> names an account's tag and subject
/// once, a <see cref="CounterLayout"/> its windows, and <see cref="Reserve(CounterHandle, CounterLayout, long, ReadOnlySpan{LayoutLimit}, string, long, long, long, bool, Span{Decisions.UsageFigures})"/>
/// (which writes the snapshot into the caller's span) and <see cref="Settle(CounterHandle, CounterLayout, long, string?, long, long, long, bool)"/>
/// take them. Both paths run the same code on the same state (counters by subject object and
/// window slot, not by string): the conformance suite drives the command path, and
/// AllocationFreeAdmissionTests (Oversight.Policy.Tests) checks the handle path against it.
/// </remarks>
public sealed class InMemoryCounterStore : ICounterStore
{
    private static readonly Metric[] Metrics = [Metric.FlopUnits, Metric.GpuSeconds];

    private readonly ConcurrentDictionary<string, TagState> _tags = new(StringComparer.Ordinal);

    public Task<string?> GetEpochAsync(string tag, CancellationToken cancellationToken = default) =>
        Task.FromResult(GetEpoch(tag));

    public Task InitializeTagAsync(string tag, string epoch, CancellationToken cancellationToken = default)
    {
        InitializeTag(tag, epoch);
        return Task.CompletedTask;
    }

    public Task ResetTagAsync(string tag, bool keepHolds = false, CancellationToken cancellationToken = default)
    {
        ResetTag(tag, keepHolds);
        return Task.CompletedTask;
    }

    public Task<ReserveResult> ReserveAsync(ReserveCommand command, CancellationToken cancellationToken = default) =>
        Task.FromResult(Reserve(command));

    public Task<SettleResult> SettleAsync(SettleCommand command, CancellationToken cancellationToken = default) =>
        Task.FromResult(Settle(command));

    public Task<ReleaseResult> ReleaseAsync(string tag, string leaseId, string accountId, long now, CancellationToken cancellationToken = default) =>
        Task.FromResult(Release(tag, leaseId, accountId, now));

    public Task<ReadResult> ReadAsync(string tag, long now, IReadOnlyList<CounterWindow> windows, IReadOnlyList<string> subjects, CancellationToken cancellationToken = default) =>
        Task.FromResult(Read(tag, now, windows, subjects));

    /// <summary>Every tag this store knows (with or without an epoch), in ordinal order.</summary>
    public IReadOnlyList<string> Tags => [.. _tags.Keys.Order(StringComparer.Ordinal)];

    public Task<IReadOnlyList<CounterHold>> ReadHoldsAsync(string tag, long now, CancellationToken cancellationToken = default)
    {
        CounterIds.ValidateTag(tag);
        if (!_tags.TryGetValue(tag, out var state))
        {
            return Task.FromResult<IReadOnlyList<CounterHold>>([]);
        }

        lock (state)
        {
            state.PruneHolds(now);
            IReadOnlyList<CounterHold> holds = state.Holds.ToList().Select(h => h.Value.ToHold(h.Key)).OrderBy(h => h.LeaseId, StringComparer.Ordinal).ToList();
            return Task.FromResult(holds);
        }
    }

    public Task RestoreHoldsAsync(string tag, long now, IReadOnlyList<CounterHold> holds, CancellationToken cancellationToken = default)
    {
        CounterIds.ValidateTag(tag);
        CounterHold.ValidateAll(holds);
        var state = _tags.GetOrAdd(tag, _ => new TagState());
        lock (state)
        {
            foreach (var hold in holds.Where(h => h.ExpiresAt > now))
            {
                state.RemoveHold(hold.LeaseId);
                state.AddHold(hold.LeaseId, new HoldEntry(state.Account(hold.AccountId), hold.FlopUnits, hold.GpuSeconds, hold.ExpiresAt, hold.Terms));
            }
        }

        return Task.CompletedTask;
    }

    public string? GetEpoch(string tag)
    {
        CounterIds.ValidateTag(tag);
        if (!_tags.TryGetValue(tag, out var state))
        {
            return null;
        }

        lock (state)
        {
            return state.Epoch;
        }
    }

    public void InitializeTag(string tag, string epoch)
    {
        CounterIds.ValidateTag(tag);
        ArgumentException.ThrowIfNullOrEmpty(epoch);
        var state = _tags.GetOrAdd(tag, static _ => new TagState());
        lock (state)
        {
            state.Epoch = epoch;
        }
    }

    public void ResetTag(string tag, bool keepHolds = false)
    {
        CounterIds.ValidateTag(tag);
        if (!_tags.TryGetValue(tag, out var state))
        {
            return;
        }

        lock (state)
        {
            var holds = keepHolds ? state.Holds.ToList() : [];
            state.Clear();
            foreach (var (leaseId, hold) in holds)
            {
                state.AddHold(leaseId, hold with { Account = state.Account(hold.Account.Id) });
            }
        }
    }

    public ReserveResult Reserve(ReserveCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Validate();
        if (!_tags.TryGetValue(command.Tag, out var state))
        {
            return ReserveResult.EpochMissing;
        }

        lock (state)
        {
            if (state.Epoch is null)
            {
                return ReserveResult.EpochMissing;
            }

            var now = command.Now;
            var slots = state.Slots(command.Windows);
            var pruned = state.PruneHolds(now);
            var snapshot = state.Snapshot(now, command.Windows, slots, command.Subjects);
            var hold = command.Hold;

            if (state.Holds.TryGetValue(hold.LeaseId, out var existing))
            {
                return new ReserveResult(ReserveStatus.AlreadyHeld, snapshot, pruned, existing.ToHold(hold.LeaseId), []);
            }

            List<int>? failed = null;
            for (var i = 0; i < command.Limits.Count; i++)
            {
                var limit = command.Limits[i];
                var amount = limit.Metric == Metric.FlopUnits ? hold.FlopUnits : hold.GpuSeconds;
                if (amount == 0)
                {
                    continue;
                }

                var window = IndexOf(command.Windows, limit.WindowId);
                var subject = state.Subject(limit.Subject);
                var usage = TagState.Usage(subject, slots[window], command.Windows[window], limit.Metric, now);
                if (usage + TagState.Held(subject, limit.Metric) + amount > limit.Limit)
                {
                    (failed ??= []).Add(i);
                }
            }

            if (failed is not null)
            {
                return new ReserveResult(ReserveStatus.Refused, snapshot, pruned, null, failed);
            }

            if (command.CheckOnly)
            {
                return new ReserveResult(ReserveStatus.Admitted, snapshot, pruned, null, []);
            }

            var entry = new HoldEntry(state.Account(hold.AccountId), hold.FlopUnits, hold.GpuSeconds, hold.ExpiresAt, hold.Terms);
            state.AddHold(hold.LeaseId, entry);
            return new ReserveResult(ReserveStatus.Admitted, snapshot, pruned, entry.ToHold(hold.LeaseId), []);
        }
    }

    public SettleResult Settle(SettleCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Validate();
        if (!_tags.TryGetValue(command.Tag, out var state))
        {
            if (!command.Rebuilding)
            {
                return new SettleResult(SettleStatus.EpochMissing, 0, false);
            }

            state = _tags.GetOrAdd(command.Tag, _ => new TagState());
        }

        lock (state)
        {
            if (state.Epoch is null && !command.Rebuilding)
            {
                return new SettleResult(SettleStatus.EpochMissing, 0, false);
            }

            var now = command.Now;
            var pruned = state.PruneHolds(now);
            state.PruneMarks(now);
            if (state.IsMarked(command.AttestationId))
            {
                return new SettleResult(SettleStatus.Duplicate, pruned, false);
            }

            // A rebuild's settles leave holds alone: the kept holds already reflect what was settled live.
            var holdFound = state.Apply(
                state.Account(command.AccountId), command.Windows, state.Slots(command.Windows), now, command.At,
                command.FlopUnits, command.GpuSeconds, command.Rebuilding ? null : command.LeaseId, command.Final);
            if (command.MarkRetentionSeconds is { } retention)
            {
                state.AddMark(command.AttestationId, now + retention);
            }

            return new SettleResult(SettleStatus.Applied, pruned, holdFound);
        }
    }

    public ReleaseResult Release(string tag, string leaseId, string accountId, long now)
    {
        CounterIds.ValidateTag(tag);
        CounterIds.ValidateOpaqueId(leaseId, nameof(leaseId));
        CounterIds.ValidateAccount(accountId, nameof(accountId));
        if (!_tags.TryGetValue(tag, out var state))
        {
            return new ReleaseResult(ReleaseStatus.EpochMissing);
        }

        lock (state)
        {
            if (state.Epoch is null)
            {
                return new ReleaseResult(ReleaseStatus.EpochMissing);
            }

            state.PruneHolds(now);
            // Another account's hold under this id (a linked account shares the tag) is not the caller's.
            var slot = state.Holds.Find(leaseId, out _);
            if (slot < 0 || state.Holds.EntryAt(slot).Account.Id != accountId)
            {
                return new ReleaseResult(ReleaseStatus.NotFound);
            }

            state.RemoveHoldAt(slot);
            return new ReleaseResult(ReleaseStatus.Released);
        }
    }

    public ReadResult Read(string tag, long now, IReadOnlyList<CounterWindow> windows, IReadOnlyList<string> subjects)
    {
        CounterIds.ValidateTag(tag);
        CounterIds.ValidateWindows(windows);
        CounterIds.ValidateSubjects(subjects);
        if (!_tags.TryGetValue(tag, out var state))
        {
            return ReadResult.EpochMissing;
        }

        lock (state)
        {
            if (state.Epoch is null)
            {
                return ReadResult.EpochMissing;
            }

            var pruned = state.PruneHolds(now);
            return new ReadResult(ReadStatus.Ok, state.Snapshot(now, windows, state.Slots(windows), subjects), pruned);
        }
    }

    /// <summary>
    /// Names an account's counters for the allocation-free path: its tag (<c>&lt;marketplace&gt;:&lt;cluster root&gt;</c>)
    /// and its own subject. The handle stays valid across a reset of the tag.
    /// </summary>
    /// <param name="layout">
    /// When given, the account's counters for it are made now rather than at its first call, so
    /// that they lie in memory next to the handle (a replay fetches thousands of accounts in turn).
    /// </param>
    public CounterHandle Handle(string tag, string accountId, CounterLayout? layout = null)
    {
        CounterIds.ValidateTag(tag);
        CounterIds.ValidateAccount(accountId, nameof(accountId));
        var handle = new CounterHandle(this, tag, accountId, _tags.GetOrAdd(tag, static _ => new TagState()));
        if (layout is not null)
        {
            lock (handle.State)
            {
                handle.State.Own(handle, layout);
            }
        }

        return handle;
    }

    /// <summary>The account whose live hold the lease id names in the handle's tag, or null when none holds it.</summary>
    public string? HolderOf(CounterHandle handle, string leaseId, long now)
    {
        ArgumentNullException.ThrowIfNull(handle);
        lock (handle.State)
        {
            return handle.State.Holds.TryGetValue(leaseId, out var hold) && hold.ExpiresAt > now ? hold.Account.Id : null;
        }
    }

    /// <summary>
    /// <see cref="ReserveAsync"/> for the subjects <c>[account, "*"]</c>, without allocating: the
    /// same checks and the same hold, with the snapshot written into <paramref name="figures"/> in
    /// the layout's order (as it was before this request's hold was added). For
    /// <see cref="ReserveStatus.AlreadyHeld"/> the held amounts include the lease's hold.
    /// </summary>
    /// <param name="limits">Every check that must hold; an amount of 0 always passes.</param>
    /// <param name="figures">At least <see cref="CounterLayout.FigureCount"/> long; left as it was for EpochMissing.</param>
    public ReserveStatus Reserve(
        CounterHandle handle, CounterLayout layout, long now, ReadOnlySpan<LayoutLimit> limits,
        string leaseId, long flopUnits, long gpuSeconds, long expiresAt, bool checkOnly, Span<UsageFigures> figures)
    {
        CheckHandle(handle, layout);
        ArgumentOutOfRangeException.ThrowIfLessThan(figures.Length, layout.FigureCount, nameof(figures));
        CounterIds.ValidateOpaqueId(leaseId, nameof(leaseId));
        foreach (var limit in limits)
        {
            // Checked before the lease's entry is claimed, so that a bad limit leaves nothing behind.
            if ((uint)limit.Window >= (uint)layout.Windows.Count || limit.Subject is not (SubjectKind.Own or SubjectKind.Cluster)
                || limit.Metric is not (Metric.FlopUnits or Metric.GpuSeconds) || limit.Limit < 0)
            {
                throw new ArgumentException($"Limit {limit} does not fit the layout's {layout.Windows.Count} windows.", nameof(limits));
            }
        }

        ArgumentOutOfRangeException.ThrowIfNegative(flopUnits);
        ArgumentOutOfRangeException.ThrowIfNegative(gpuSeconds);
        if (!checkOnly && expiresAt <= now)
        {
            throw new ArgumentOutOfRangeException(nameof(expiresAt), expiresAt, "A hold must expire after now.");
        }

        var state = handle.State;
        lock (state)
        {
            if (state.Epoch is null)
            {
                return ReserveStatus.EpochMissing;
            }

            var windows = layout.WindowArray;
            var slots = state.Slots(layout);
            var own = state.Own(handle, layout);
            state.PruneHolds(now);
            var half = layout.FigureCount / 2;
            TagState.Fill(own, windows, slots, now, figures[..half]);
            if (state.Cluster is var cluster && ReferenceEquals(cluster, own))
            {
                figures[..half].CopyTo(figures[half..]);
            }
            else
            {
                TagState.Fill(cluster, windows, slots, now, figures[half..]);
            }
            // One hash of the lease id on the admitted path: the look-up also finds the slot to fill
            // (nothing else touches the table in between).
            var slot = state.Holds.Find(leaseId, out var hash);
            if (slot >= 0)
            {
                return ReserveStatus.AlreadyHeld;
            }

            var status = ReserveStatus.Admitted;
            foreach (var limit in limits)
            {
                var amount = limit.Metric == Metric.FlopUnits ? flopUnits : gpuSeconds;
                var figure = figures[layout.FigureIndex(limit.Subject, limit.Window, limit.Metric)];
                if (amount != 0 && figure.Usage + figure.Held + amount > limit.Limit)
                {
                    status = ReserveStatus.Refused;
                    break;
                }
            }

            if (status == ReserveStatus.Refused || checkOnly)
            {
                return status;
            }

            var hold = new HoldEntry(own, flopUnits, gpuSeconds, expiresAt);
            state.Holds.Insert(slot, hash, leaseId, hold);
            state.AddHeld(hold, 1);
            return status;
        }
    }

    /// <summary>
    /// <see cref="SettleAsync"/> without an exactly-once key (so without a mark), for callers that
    /// never deliver an event twice (the replay): counts the amounts at bucket(<paramref name="at"/>)
    /// for the account and its cluster and reduces or, when final, releases the account's hold of the lease.
    /// </summary>
    public SettleStatus Settle(CounterHandle handle, CounterLayout layout, long now, string? leaseId, long flopUnits, long gpuSeconds, long at, bool final)
    {
        CheckHandle(handle, layout);
        SettleCommand.ValidateUsage(leaseId, flopUnits, gpuSeconds, at);
        var state = handle.State;
        lock (state)
        {
            if (state.Epoch is null)
            {
                return SettleStatus.EpochMissing;
            }

            state.PruneHolds(now);
            state.PruneMarks(now);
            state.Apply(state.Own(handle, layout), layout.WindowArray, state.Slots(layout), now, at, flopUnits, gpuSeconds, leaseId, final);
            return SettleStatus.Applied;
        }
    }

    private void CheckHandle(CounterHandle handle, CounterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentNullException.ThrowIfNull(layout);
        if (!handle.IsOf(this))
        {
            throw new ArgumentException("The handle is another store's.", nameof(handle));
        }
    }

    private static int IndexOf(IReadOnlyList<CounterWindow> windows, string id)
    {
        for (var i = 0; i < windows.Count; i++)
        {
            if (string.Equals(windows[i].Id, id, StringComparison.Ordinal))
            {
                return i;
            }
        }

        throw new ArgumentException($"Unknown window '{id}'.", nameof(id));
    }

    internal readonly record struct HoldEntry(SubjectState Account, long FlopUnits, long GpuSeconds, long ExpiresAt, string? Terms = null)
    {
        // Empty terms are none, as the Redis store keeps them.
        public string? Terms { get; } = string.IsNullOrEmpty(Terms) ? null : Terms;

        public CounterHold ToHold(string leaseId) => new(leaseId, Account.Id, FlopUnits, GpuSeconds, ExpiresAt, Terms);
    }

    /// <summary>One subject of a tag (an account, or the cluster "*"): its counters by window slot and its held sums.</summary>
    internal sealed class SubjectState(string id)
    {
        public readonly string Id = id;

        // Held amounts are running sums (the cluster's over every hold of the tag), so that a check
        // does not walk every live hold (a busy account can hold hundreds of leases).
        public long HeldFlop;
        public long HeldGpu;

        // The first windows' series live in the subject itself, so that a call fetches one object
        // for them, not two (a replay cycles through thousands of accounts); more go to an array.
        private InlineSeries _inline;
        private BucketSeries[]? _more;

        public int WindowCount { get; private set; }

        public ref BucketSeries Series(int slot) => ref slot < InlineSeries.Length ? ref _inline[slot] : ref _more![slot - InlineSeries.Length];

        public void EnsureWindows(int count)
        {
            if (count <= WindowCount)
            {
                return;
            }

            if (count > InlineSeries.Length)
            {
                Array.Resize(ref _more, count - InlineSeries.Length);
            }

            WindowCount = count;
        }

        /// <summary>
        /// Makes the first buckets of the layout's rolling windows now, so that they sit in memory
        /// next to the subject (made a moment before) rather than wherever the heap is when the
        /// first usage comes: a replay fetches thousands of accounts' counters in turn, and one
        /// account's in a few neighbouring cache lines came out about 8% faster at 10,000 accounts.
        /// </summary>
        public void Prepare(CounterWindow[] windows, int[] slots)
        {
            for (var i = 0; i < windows.Length; i++)
            {
                EnsureWindows(slots[i] + 1);
                if (windows[i].LengthSeconds is not null)
                {
                    Series(slots[i]).Prepare();
                }
            }
        }

        public SubjectState CopyAs(string id)
        {
            var copy = new SubjectState(id) { HeldFlop = HeldFlop, HeldGpu = HeldGpu };
            copy.EnsureWindows(WindowCount);
            for (var slot = 0; slot < WindowCount; slot++)
            {
                copy.Series(slot) = Series(slot).Copy();
            }

            return copy;
        }
    }

    [InlineArray(Length)]
    internal struct InlineSeries
    {
        public const int Length = 4;

        private BucketSeries _first;
    }

    /// <summary>
    /// One tag's counters, holds and marks. Callers lock the state itself: a separate lock object
    /// would be one more cache line to fetch on every call of a replay that cycles through
    /// thousands of tags.
    /// </summary>
    internal sealed class TagState
    {
        public string? Epoch;

        /// <summary>Counts resets: a <see cref="CounterHandle"/> made before one looks its subject up again.</summary>
        public int Generation;

        // This and the other collections are made at their first use, after the account's counters,
        // so that what every call reads (this object, the counters, the hold slots) lies together
        // in memory: a replay fetches thousands of accounts' state in turn.
        private Dictionary<string, SubjectState>? _accounts;

        // The cluster "*" sums every account of the tag. While the tag has one account (every
        // unlinked account is alone in its tag) that sum is the account itself, so the account
        // serves as the cluster and each event is counted once, not twice; the cluster's own
        // counters are made, as a copy, when a second account joins.
        private SubjectState? _sole;
        private SubjectState? _cluster;

        /// <summary>The cluster's counters; null while the tag has no account (its figures are zero).</summary>
        public SubjectState? Cluster => _cluster ?? _sole;

        /// <summary>The live holds (and holds expired since the last prune), by lease id.</summary>
        public HoldTable<RandomizedLeaseHasher> Holds = new();

        private Dictionary<string, long>? _marks;

        // Made at the first mark: the replay never marks, and an empty queue would still be fetched on every settle.
        private PriorityQueue<string, long>? _markExpiries;

        /// <summary>Window ids by slot: counters are kept by slot, so the hot path compares no strings.</summary>
        private List<string>? _windowIds;

        // The slots of the last layout used (a replay uses one layout for every call).
        private CounterLayout? _layout;
        private int[] _layoutSlots = [];

        public void Clear()
        {
            Epoch = null;
            Generation++;
            _sole = null;
            _cluster = null;
            _accounts?.Clear();
            Holds.Clear();
            _marks?.Clear();
            _markExpiries?.Clear();
            _windowIds?.Clear();
            _layout = null;
        }

        /// <summary>The subject, or null when it has nothing yet (reads do not create subjects).</summary>
        public SubjectState? Subject(string subject) =>
            subject is CounterSubject.Cluster ? Cluster : _accounts?.GetValueOrDefault(subject);

        /// <summary>The account's subject, created when missing.</summary>
        /// <param name="prepareHolds">
        /// Make the hold slots too, right after the subject (the handle path, which reserves): a tag
        /// that only settles or reads (the command path's rebuilds) never needs them.
        /// </param>
        public SubjectState Account(string accountId, bool prepareHolds = false)
        {
            if (_accounts?.GetValueOrDefault(accountId) is { } existing)
            {
                return existing;
            }

            var subject = new SubjectState(accountId);
            if (prepareHolds)
            {
                Holds.Prepare(); // the slots next to the counters (see _accounts)
            }

            (_accounts ??= new(StringComparer.Ordinal)).Add(accountId, subject);
            if (_accounts.Count == 1)
            {
                _sole = subject;
            }
            else if (_cluster is null)
            {
                _cluster = _sole!.CopyAs(CounterSubject.Cluster);
                _sole = null;
            }

            return subject;
        }

        public SubjectState Own(CounterHandle handle, CounterLayout layout)
        {
            if (handle.Own is null || handle.Generation != Generation)
            {
                handle.Own = Account(handle.AccountId, prepareHolds: true);
                handle.Own.Prepare(layout.WindowArray, Slots(layout));
                handle.Generation = Generation;
            }

            return handle.Own;
        }

        public int[] Slots(IReadOnlyList<CounterWindow> windows)
        {
            var slots = new int[windows.Count];
            var identity = true;
            for (var i = 0; i < slots.Length; i++)
            {
                slots[i] = Slot(windows[i].Id);
                identity &= slots[i] == i;
            }

            // Nearly every tag meets its windows in the policy's order: share one array for them all
            // (slot maps are only ever read).
            return identity && slots.Length < IdentitySlots.Length ? IdentitySlots[slots.Length] : slots;
        }

        private static readonly int[][] IdentitySlots = [.. Enumerable.Range(0, 9).Select(n => Enumerable.Range(0, n).ToArray())];

        public int[] Slots(CounterLayout layout)
        {
            if (!ReferenceEquals(layout, _layout))
            {
                _layoutSlots = Slots(layout.Windows);
                _layout = layout;
            }

            return _layoutSlots;
        }

        private int Slot(string windowId)
        {
            _windowIds ??= [];
            var slot = _windowIds.IndexOf(windowId);
            if (slot < 0)
            {
                slot = _windowIds.Count;
                _windowIds.Add(windowId);
            }

            return slot;
        }

        public void AddHold(string leaseId, HoldEntry entry)
        {
            Holds.Add(leaseId, entry);
            AddHeld(entry, 1);
        }

        /// <summary>Removes the lease's hold; with <paramref name="holder"/>, only when that subject holds it.</summary>
        public bool RemoveHold(string leaseId, SubjectState? holder = null)
        {
            var slot = Holds.Find(leaseId, out _);
            if (slot < 0 || (holder is not null && Holds.EntryAt(slot).Account != holder))
            {
                return false;
            }

            RemoveHoldAt(slot);
            return true;
        }

        /// <summary>Removes the hold in a slot <see cref="HoldTable{THasher}.Find"/> returned.</summary>
        public void RemoveHoldAt(int slot) => AddHeld(Holds.RemoveAt(slot), -1);

        /// <summary>Counts a hold in (<paramref name="sign"/> 1) or out of (-1) its account's and the cluster's held sums.</summary>
        public void AddHeld(HoldEntry entry, int sign) => AddHeld(entry, sign, _cluster);

        private static void AddHeld(HoldEntry entry, int sign, SubjectState? cluster)
        {
            entry.Account.HeldFlop += sign * entry.FlopUnits;
            entry.Account.HeldGpu += sign * entry.GpuSeconds;
            if (cluster is not null)
            {
                cluster.HeldFlop += sign * entry.FlopUnits;
                cluster.HeldGpu += sign * entry.GpuSeconds;
            }
        }

        /// <summary>Removes the holds that expired by <paramref name="now"/>; returns how many. Costs
        /// nothing until the earliest expiry; then one walk of the hold table.</summary>
        public int PruneHolds(long now)
        {
            var unheld = new Unheld(_cluster);
            return Holds.RemoveExpired(now, ref unheld);
        }

        private readonly struct Unheld(SubjectState? cluster) : IHoldRemoved
        {
            public void Removed(HoldEntry hold) => AddHeld(hold, -1, cluster);
        }

        public void AddMark(string attestationId, long expiresAt)
        {
            (_marks ??= new(StringComparer.Ordinal))[attestationId] = expiresAt;
            (_markExpiries ??= new()).Enqueue(attestationId, expiresAt);
        }

        public bool IsMarked(string attestationId) => _marks?.ContainsKey(attestationId) == true;

        public void PruneMarks(long now)
        {
            while (_markExpiries is not null && _markExpiries.TryPeek(out var id, out var expiresAt) && expiresAt <= now)
            {
                _markExpiries.Dequeue();
                if (_marks!.TryGetValue(id, out var current) && current <= now)
                {
                    _marks.Remove(id);
                }
            }
        }

        public static long Held(SubjectState? subject, Metric metric) =>
            subject is null ? 0 : metric == Metric.FlopUnits ? subject.HeldFlop : subject.HeldGpu;

        /// <summary>The subject's usage in a window, and for a rolling window with usage when its oldest counted bucket leaves it.</summary>
        public static long Usage(SubjectState? subject, int slot, CounterWindow window, Metric metric, long now, out long? resetsAt)
        {
            resetsAt = null;
            if (subject is null || slot >= subject.WindowCount)
            {
                return 0;
            }

            ref var series = ref Counted(subject, slot, window, now);
            if (window.LengthSeconds is { } length && series.OldestBucket(metric) is { } oldest)
            {
                resetsAt = ((oldest + 1) * window.BucketSeconds) + length;
            }

            return series.Total(metric);
        }

        public static long Usage(SubjectState? subject, int slot, CounterWindow window, Metric metric, long now) =>
            subject is null || slot >= subject.WindowCount ? 0 : Counted(subject, slot, window, now).Total(metric);

        /// <summary>The subject's buckets of one window, pruned to what the window counts at <paramref name="now"/>.</summary>
        private static ref BucketSeries Counted(SubjectState subject, int slot, CounterWindow window, long now)
        {
            ref var series = ref subject.Series(slot);
            if (window.LengthSeconds is { } length)
            {
                series.PruneEnded(now, window.BucketSeconds, length);
            }

            return ref series;
        }

        /// <summary>
        /// Counts usage once for the account and its cluster and shrinks or releases the account's
        /// hold of the lease; returns whether the account held it. Another account's hold under the
        /// same id (a linked account shares the tag) stays: that lease's reservation is not its to touch.
        /// </summary>
        public bool Apply(SubjectState account, IReadOnlyList<CounterWindow> windows, int[] slots, long now, long at, long flop, long gpu, string? leaseId, bool final)
        {
            Count(account, windows, slots, now, at, flop, gpu);
            if (_cluster is not null)
            {
                Count(_cluster, windows, slots, now, at, flop, gpu);
            }

            if (leaseId is null)
            {
                return false;
            }

            // One hash of the lease id per settle: remove a final lease's hold, or shrink the hold in
            // place. A tag has one subject per account, so the holder is compared by reference.
            if (final)
            {
                return RemoveHold(leaseId, account);
            }

            var slot = Holds.Find(leaseId, out _);
            if (slot < 0)
            {
                return false;
            }

            ref var hold = ref Holds.EntryAt(slot);
            if (hold.Account != account)
            {
                return false;
            }

            AddHeld(hold, -1);
            hold = hold with
            {
                FlopUnits = Math.Max(0, hold.FlopUnits - flop),
                GpuSeconds = Math.Max(0, hold.GpuSeconds - gpu),
            };
            AddHeld(hold, 1);
            return true;
        }

        private static void Count(SubjectState subject, IReadOnlyList<CounterWindow> windows, int[] slots, long now, long at, long flop, long gpu)
        {
            for (var i = 0; i < slots.Length; i++)
            {
                var slot = slots[i];
                subject.EnsureWindows(slot + 1);

                var window = windows[i];
                ref var series = ref subject.Series(slot);
                if (window.LengthSeconds is not { } length)
                {
                    series.AddToTotals(flop, gpu);
                    continue;
                }

                series.PruneEnded(now, window.BucketSeconds, length);
                var bucket = series.BucketOf(at, window.BucketSeconds);
                if (((bucket + 1) * window.BucketSeconds) + length <= now)
                {
                    continue; // already outside the window: it would be pruned at once
                }

                series.Add(bucket, flop, gpu);
            }
        }

        /// <summary>One subject's figures in layout order (window, then metric).</summary>
        public static void Fill(SubjectState? subject, CounterWindow[] windows, int[] slots, long now, Span<UsageFigures> figures)
        {
            for (var i = 0; i < windows.Length; i++)
            {
                long flop = 0, gpu = 0;
                if (subject is not null && slots[i] < subject.WindowCount)
                {
                    ref var series = ref Counted(subject, slots[i], windows[i], now);
                    (flop, gpu) = (series.FlopTotal, series.GpuTotal);
                }

                figures[2 * i] = new UsageFigures(flop, Held(subject, Metric.FlopUnits));
                figures[(2 * i) + 1] = new UsageFigures(gpu, Held(subject, Metric.GpuSeconds));
            }
        }

        public CounterSnapshot Snapshot(long now, IReadOnlyList<CounterWindow> windows, int[] slots, IReadOnlyList<string> subjects)
        {
            var readings = new CounterReading[subjects.Count * windows.Count * Metrics.Length];
            var n = 0;
            foreach (var id in subjects)
            {
                var subject = Subject(id);
                for (var i = 0; i < windows.Count; i++)
                {
                    foreach (var metric in Metrics)
                    {
                        var usage = Usage(subject, slots[i], windows[i], metric, now, out var resetsAt);
                        readings[n++] = new CounterReading(id, windows[i].Id, metric, usage, Held(subject, metric), resetsAt);
                    }
                }
            }

            return new CounterSnapshot(readings);
        }
    }
}

/// <summary>
/// An account's counters in an <see cref="InMemoryCounterStore"/>, named once for the
/// allocation-free path (see <see cref="InMemoryCounterStore.Handle"/>).
/// </summary>
public sealed class CounterHandle
{
    private readonly InMemoryCounterStore _store;

    internal CounterHandle(InMemoryCounterStore store, string tag, string accountId, InMemoryCounterStore.TagState state)
    {
        _store = store;
        Tag = tag;
        AccountId = accountId;
        State = state;
    }

    public string Tag { get; }

    public string AccountId { get; }

    internal InMemoryCounterStore.TagState State { get; }

    // The account's subject as last looked up (guarded by the tag's lock).
    internal InMemoryCounterStore.SubjectState? Own { get; set; }

    internal int Generation { get; set; }

    internal bool IsOf(InMemoryCounterStore store) => ReferenceEquals(store, _store);
}
