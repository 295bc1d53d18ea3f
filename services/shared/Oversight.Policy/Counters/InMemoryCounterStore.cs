using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Oversight.Policy.Counters;

/// <summary>
/// The in-memory <see cref="ICounterStore"/>: the same semantics as the Redis store (one
/// conformance suite runs against both), for the embedded default, tests and the replay path.
/// Thread-safe with one lock per tag; time is always the caller's <c>now</c>. The synchronous
/// methods (<see cref="Settle"/>, <see cref="Reserve"/>, ...) avoid a Task per call for replays of
/// millions of events; settling allocates nothing once a subject's windows exist.
/// </summary>
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

    public Task ResetTagAsync(string tag, CancellationToken cancellationToken = default)
    {
        ResetTag(tag);
        return Task.CompletedTask;
    }

    public Task<ReserveResult> ReserveAsync(ReserveCommand command, CancellationToken cancellationToken = default) =>
        Task.FromResult(Reserve(command));

    public Task<SettleResult> SettleAsync(SettleCommand command, CancellationToken cancellationToken = default) =>
        Task.FromResult(Settle(command));

    public Task<ReleaseResult> ReleaseAsync(string tag, string leaseId, long now, CancellationToken cancellationToken = default) =>
        Task.FromResult(Release(tag, leaseId, now));

    public Task<ReadResult> ReadAsync(string tag, long now, IReadOnlyList<CounterWindow> windows, IReadOnlyList<string> subjects, CancellationToken cancellationToken = default) =>
        Task.FromResult(Read(tag, now, windows, subjects));

    public string? GetEpoch(string tag)
    {
        CounterIds.ValidateTag(tag);
        if (!_tags.TryGetValue(tag, out var state))
        {
            return null;
        }

        lock (state.Gate)
        {
            return state.Epoch;
        }
    }

    public void InitializeTag(string tag, string epoch)
    {
        CounterIds.ValidateTag(tag);
        ArgumentException.ThrowIfNullOrEmpty(epoch);
        var state = _tags.GetOrAdd(tag, static _ => new TagState());
        lock (state.Gate)
        {
            state.Epoch = epoch;
        }
    }

    public void ResetTag(string tag)
    {
        CounterIds.ValidateTag(tag);
        if (!_tags.TryGetValue(tag, out var state))
        {
            return;
        }

        lock (state.Gate)
        {
            state.Clear();
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

        lock (state.Gate)
        {
            if (state.Epoch is null)
            {
                return ReserveResult.EpochMissing;
            }

            var now = command.Now;
            var pruned = state.PruneHolds(now);
            var snapshot = state.Snapshot(now, command.Windows, command.Subjects);
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

                var window = FindWindow(command.Windows, limit.WindowId);
                var usage = state.Usage(now, window, limit.Subject, limit.Metric, out _);
                var held = state.Held(limit.Subject, limit.Metric);
                if (usage + held + amount > limit.Limit)
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

            var entry = new HoldEntry(hold.AccountId, hold.FlopUnits, hold.GpuSeconds, hold.ExpiresAt);
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

        lock (state.Gate)
        {
            if (state.Epoch is null && !command.Rebuilding)
            {
                return new SettleResult(SettleStatus.EpochMissing, 0, false);
            }

            var now = command.Now;
            var pruned = state.PruneHolds(now);
            state.PruneMarks(now);
            if (state.Marks.ContainsKey(command.AttestationId))
            {
                return new SettleResult(SettleStatus.Duplicate, pruned, false);
            }

            state.Count(command.AccountId, command.Windows, now, command.At, command.FlopUnits, command.GpuSeconds);
            state.Count(CounterSubject.Cluster, command.Windows, now, command.At, command.FlopUnits, command.GpuSeconds);

            var holdFound = false;
            if (command.LeaseId is { } leaseId)
            {
                if (state.Holds.TryGetValue(leaseId, out var hold))
                {
                    holdFound = true;
                    if (command.Final)
                    {
                        state.RemoveHold(leaseId);
                    }
                    else
                    {
                        state.ReplaceHold(leaseId, hold with
                        {
                            FlopUnits = Math.Max(0, hold.FlopUnits - command.FlopUnits),
                            GpuSeconds = Math.Max(0, hold.GpuSeconds - command.GpuSeconds),
                        });
                    }
                }
            }

            if (command.MarkRetentionSeconds is { } retention)
            {
                state.AddMark(command.AttestationId, now + retention);
            }

            return new SettleResult(SettleStatus.Applied, pruned, holdFound);
        }
    }

    public ReleaseResult Release(string tag, string leaseId, long now)
    {
        CounterIds.ValidateTag(tag);
        CounterIds.ValidateOpaqueId(leaseId, nameof(leaseId));
        if (!_tags.TryGetValue(tag, out var state))
        {
            return new ReleaseResult(ReleaseStatus.EpochMissing);
        }

        lock (state.Gate)
        {
            if (state.Epoch is null)
            {
                return new ReleaseResult(ReleaseStatus.EpochMissing);
            }

            state.PruneHolds(now);
            return state.RemoveHold(leaseId)
                ? new ReleaseResult(ReleaseStatus.Released)
                : new ReleaseResult(ReleaseStatus.NotFound);
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

        lock (state.Gate)
        {
            if (state.Epoch is null)
            {
                return ReadResult.EpochMissing;
            }

            var pruned = state.PruneHolds(now);
            return new ReadResult(ReadStatus.Ok, state.Snapshot(now, windows, subjects), pruned);
        }
    }

    private static CounterWindow FindWindow(IReadOnlyList<CounterWindow> windows, string id)
    {
        for (var i = 0; i < windows.Count; i++)
        {
            if (string.Equals(windows[i].Id, id, StringComparison.Ordinal))
            {
                return windows[i];
            }
        }

        throw new ArgumentException($"Unknown window '{id}'.", nameof(id));
    }

    /// <summary>floor(a / b) for b &gt; 0.</summary>
    private static long FloorDiv(long a, long b)
    {
        var q = a / b;
        return (a % b != 0 && a < 0) ? q - 1 : q;
    }

    /// <summary>The first bucket a window counts at <paramref name="now"/>: <c>(i + 1) * B &gt; now - L</c> iff <c>i &gt;= floor((now - L) / B)</c>.</summary>
    private static long MinCountedBucket(CounterWindow window, long now) =>
        window.LengthSeconds is { } length ? FloorDiv(now - length, window.BucketSeconds) : long.MinValue;

    private static long BucketOf(CounterWindow window, long at) =>
        window.IsLifetime ? 0 : FloorDiv(at, window.BucketSeconds);

    private readonly record struct HoldEntry(string AccountId, long FlopUnits, long GpuSeconds, long ExpiresAt)
    {
        public CounterHold ToHold(string leaseId) => new(leaseId, AccountId, FlopUnits, GpuSeconds, ExpiresAt);
    }

    /// <summary>The two metrics' buckets of one (subject, window).</summary>
    private sealed class WindowCounters
    {
        public readonly BucketSeries Flop = new();
        public readonly BucketSeries Gpu = new();

        public BucketSeries Of(Metric metric) => metric == Metric.FlopUnits ? Flop : Gpu;
    }

    private sealed class TagState
    {
        /// <summary>The tag's lock (a System.Threading.Lock: cheaper than locking the object itself).</summary>
        public readonly Lock Gate = new();

        public string? Epoch;

        /// <summary>subject → window id → counters.</summary>
        public readonly Dictionary<string, Dictionary<string, WindowCounters>> Counters = new(StringComparer.Ordinal);

        public readonly Dictionary<string, HoldEntry> Holds = new(StringComparer.Ordinal);

        public readonly Dictionary<string, long> Marks = new(StringComparer.Ordinal);

        private readonly PriorityQueue<string, long> _markExpiries = new();

        /// <summary>No hold expires before this: pruning is skipped until now reaches it.</summary>
        private long _earliestHoldExpiry = long.MaxValue;

        public void Clear()
        {
            Epoch = null;
            Counters.Clear();
            Holds.Clear();
            _heldByAccount.Clear();
            _heldByAll = default;
            Marks.Clear();
            _markExpiries.Clear();
            _earliestHoldExpiry = long.MaxValue;
        }

        public void AddHold(string leaseId, HoldEntry entry)
        {
            Holds.Add(leaseId, entry);
            AddHeld(entry, 1);
            _earliestHoldExpiry = Math.Min(_earliestHoldExpiry, entry.ExpiresAt);
        }

        public bool RemoveHold(string leaseId)
        {
            if (!Holds.Remove(leaseId, out var entry))
            {
                return false;
            }

            AddHeld(entry, -1);
            return true;
        }

        public void ReplaceHold(string leaseId, HoldEntry entry)
        {
            AddHeld(Holds[leaseId], -1);
            Holds[leaseId] = entry;
            AddHeld(entry, 1);
        }

        // Held amounts are kept as running sums per account and for the whole tag, so that a check
        // does not walk every live hold of the tag (a busy account can hold hundreds of leases).
        private readonly Dictionary<string, (long Flop, long Gpu)> _heldByAccount = new(StringComparer.Ordinal);
        private (long Flop, long Gpu) _heldByAll;

        private void AddHeld(HoldEntry entry, int sign)
        {
            ref var account = ref CollectionsMarshal.GetValueRefOrAddDefault(_heldByAccount, entry.AccountId, out _);
            account = (account.Flop + (sign * entry.FlopUnits), account.Gpu + (sign * entry.GpuSeconds));
            if (account == default)
            {
                _heldByAccount.Remove(entry.AccountId);
            }

            _heldByAll = (_heldByAll.Flop + (sign * entry.FlopUnits), _heldByAll.Gpu + (sign * entry.GpuSeconds));
        }

        public int PruneHolds(long now)
        {
            if (now < _earliestHoldExpiry)
            {
                return 0;
            }

            var pruned = 0;
            var earliest = long.MaxValue;
            foreach (var (leaseId, hold) in Holds)
            {
                if (hold.ExpiresAt <= now)
                {
                    RemoveHold(leaseId); // removing while enumerating is allowed (.NET Core 3.0+)
                    pruned++;
                }
                else if (hold.ExpiresAt < earliest)
                {
                    earliest = hold.ExpiresAt;
                }
            }

            _earliestHoldExpiry = earliest;
            return pruned;
        }

        public void AddMark(string attestationId, long expiresAt)
        {
            Marks[attestationId] = expiresAt;
            _markExpiries.Enqueue(attestationId, expiresAt);
        }

        public void PruneMarks(long now)
        {
            while (_markExpiries.TryPeek(out var id, out var expiresAt) && expiresAt <= now)
            {
                _markExpiries.Dequeue();
                if (Marks.TryGetValue(id, out var current) && current <= now)
                {
                    Marks.Remove(id);
                }
            }
        }

        public long Held(string subject, Metric metric)
        {
            var held = subject is CounterSubject.Cluster ? _heldByAll : _heldByAccount.GetValueOrDefault(subject);
            return metric == Metric.FlopUnits ? held.Flop : held.Gpu;
        }

        public long Usage(long now, CounterWindow window, string subject, Metric metric, out long? resetsAt)
        {
            resetsAt = null;
            if (!Counters.TryGetValue(subject, out var windows) || !windows.TryGetValue(window.Id, out var counters))
            {
                return 0;
            }

            var series = counters.Of(metric);
            if (window.LengthSeconds is { } length)
            {
                series.PruneBelow(MinCountedBucket(window, now));
                if (series.OldestBucket is { } oldest)
                {
                    resetsAt = ((oldest + 1) * window.BucketSeconds) + length;
                }
            }

            return series.Total;
        }

        public void Count(string subject, IReadOnlyList<CounterWindow> windows, long now, long at, long flop, long gpu)
        {
            ref var byWindow = ref CollectionsMarshal.GetValueRefOrAddDefault(Counters, subject, out _);
            byWindow ??= new Dictionary<string, WindowCounters>(StringComparer.Ordinal);
            for (var i = 0; i < windows.Count; i++)
            {
                var window = windows[i];
                var bucket = BucketOf(window, at);
                var minCounted = MinCountedBucket(window, now);
                ref var counters = ref CollectionsMarshal.GetValueRefOrAddDefault(byWindow, window.Id, out _);
                counters ??= new WindowCounters();
                counters.Flop.PruneBelow(minCounted);
                counters.Gpu.PruneBelow(minCounted);
                if (bucket < minCounted)
                {
                    continue; // already outside the window: it would be pruned at once
                }

                counters.Flop.Add(bucket, flop);
                counters.Gpu.Add(bucket, gpu);
            }
        }

        public CounterSnapshot Snapshot(long now, IReadOnlyList<CounterWindow> windows, IReadOnlyList<string> subjects)
        {
            var readings = new CounterReading[subjects.Count * windows.Count * Metrics.Length];
            var n = 0;
            foreach (var subject in subjects)
            {
                var heldFlop = Held(subject, Metric.FlopUnits);
                var heldGpu = Held(subject, Metric.GpuSeconds);
                foreach (var window in windows)
                {
                    foreach (var metric in Metrics)
                    {
                        var usage = Usage(now, window, subject, metric, out var resetsAt);
                        var held = metric == Metric.FlopUnits ? heldFlop : heldGpu;
                        readings[n++] = new CounterReading(subject, window.Id, metric, usage, held, resetsAt);
                    }
                }
            }

            return new CounterSnapshot(readings);
        }
    }
}
