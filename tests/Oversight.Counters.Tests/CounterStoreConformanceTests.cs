using Oversight.Policy;
using Oversight.Policy.Counters;

namespace Oversight.Counters.Tests;

/// <summary>
/// The behaviour every <see cref="ICounterStore"/> must have. Derive once per store and pass the
/// store to the constructor; every test uses its own tag (a fresh marketplace id), so one store
/// instance may serve every test. Times are Unix seconds from <see cref="T0"/> (a whole day).
/// </summary>
public abstract class CounterStoreConformanceTests(ICounterStore store)
{
    protected const long Hour = 3600;
    protected const long Day = 24 * Hour;

    /// <summary>2023-11-15T00:00:00Z: a whole day, so buckets of an hour or a day start at T0.</summary>
    protected const long T0 = 19_676 * Day;

    protected static readonly CounterWindow Rolling24h = new("24h", Day, Hour);
    protected static readonly CounterWindow Rolling30d = new("30d", 30 * Day, Day);
    protected static readonly CounterWindow Lifetime = CounterWindow.Lifetime("life");
    protected static readonly IReadOnlyList<CounterWindow> Windows = [Rolling24h, Rolling30d, Lifetime];

    protected const long Retention = 30 * Day;

    protected ICounterStore Store { get; } = store;

    // ---------- helpers (protected, for further suites) ----------

    protected static string NewTag() => CounterTag.For("m-" + Guid.NewGuid().ToString("N"), "root");

    protected async Task<string> NewInitializedTagAsync()
    {
        var tag = NewTag();
        await Store.InitializeTagAsync(tag, "epoch-1");
        return tag;
    }

    protected static SettleCommand Settle(
        string tag, string attestationId, string account, long flop = 0, long gpu = 0, long? at = null, long now = T0,
        string? lease = null, bool final = false, long? retention = Retention, IReadOnlyList<CounterWindow>? windows = null) =>
        new(tag, now, windows ?? Windows, attestationId, account, lease, flop, gpu, at ?? now, final, retention);

    protected static ReserveCommand Reserve(
        string tag, string lease, string account, long flop = 0, long gpu = 0, long now = T0, long? expiresAt = null,
        IReadOnlyList<CounterLimit>? limits = null, bool checkOnly = false, IReadOnlyList<string>? subjects = null) =>
        new(tag, now, Windows, subjects ?? [account, CounterSubject.Cluster], limits ?? [],
            new HoldRequest(lease, account, flop, gpu, expiresAt ?? now + Hour), checkOnly);

    protected static CounterLimit Limit(string subject, CounterWindow window, Metric metric, long limit) =>
        new(subject, window.Id, metric, limit);

    protected async Task<CounterSnapshot> ReadAsync(string tag, long now = T0, params string[] subjects)
    {
        var result = await Store.ReadAsync(tag, now, Windows, subjects.Length == 0 ? [CounterSubject.Cluster] : subjects);
        Assert.Equal(ReadStatus.Ok, result.Status);
        return result.Snapshot;
    }

    protected async Task<long> UsageAsync(string tag, string subject, CounterWindow window, Metric metric, long now = T0) =>
        (await ReadAsync(tag, now, subject)).Get(subject, window.Id, metric).Usage;

    protected async Task<long> HeldAsync(string tag, string subject, Metric metric, long now = T0) =>
        (await ReadAsync(tag, now, subject)).Get(subject, Lifetime.Id, metric).Held;

    // ---------- reserve ----------

    [Fact]
    public async Task Reserve_WhenEveryLimitHolds_AddsHold()
    {
        var tag = await NewInitializedTagAsync();
        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 40, gpu: 400));

        var result = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 50, gpu: 500, limits:
        [
            Limit("acct-a", Rolling24h, Metric.FlopUnits, 100),
            Limit("acct-a", Rolling24h, Metric.GpuSeconds, 1000),
            Limit(CounterSubject.Cluster, Lifetime, Metric.FlopUnits, 100),
        ]));

        Assert.Equal(ReserveStatus.Admitted, result.Status);
        Assert.Equal(new CounterHold("lease-1", "acct-a", 50, 500, T0 + Hour), result.Hold);
        Assert.Empty(result.FailedLimits);
        // The snapshot is as it was before this request's hold.
        var before = result.Snapshot.Get("acct-a", Rolling24h.Id, Metric.FlopUnits);
        Assert.Equal((40, 0), (before.Usage, before.Held));
        // Afterwards the hold shows for the account and for the cluster.
        var after = await ReadAsync(tag, T0, "acct-a", CounterSubject.Cluster);
        Assert.Equal(50, after.Get("acct-a", Rolling24h.Id, Metric.FlopUnits).Held);
        Assert.Equal(500, after.Get("acct-a", Rolling30d.Id, Metric.GpuSeconds).Held);
        Assert.Equal(50, after.Get(CounterSubject.Cluster, Lifetime.Id, Metric.FlopUnits).Held);
        Assert.Equal(40, after.Get(CounterSubject.Cluster, Lifetime.Id, Metric.FlopUnits).Usage);
    }

    [Fact]
    public async Task Reserve_ReturnsReadingForEverySubjectWindowAndMetric_InOrder()
    {
        var tag = await NewInitializedTagAsync();

        var result = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 1, limits:
            [Limit("acct-other", Rolling24h, Metric.FlopUnits, 10)]));

        var expected = new List<(string, string, Metric)>();
        foreach (var subject in new[] { "acct-a", CounterSubject.Cluster })
        {
            foreach (var window in Windows)
            {
                expected.Add((subject, window.Id, Metric.FlopUnits));
                expected.Add((subject, window.Id, Metric.GpuSeconds));
            }
        }

        Assert.Equal(expected, result.Snapshot.Readings.Select(r => (r.Subject, r.WindowId, r.Metric)).ToList());
        Assert.All(result.Snapshot.Readings, r => Assert.Equal((0, 0, (long?)null), (r.Usage, r.Held, r.ResetsAt)));
    }

    [Fact]
    public async Task Reserve_WhenAnySingleLimitWouldBeExceeded_RefusesAndHoldsNothing()
    {
        var tag = await NewInitializedTagAsync();
        // 10 days ago: outside 24h, inside 30d and lifetime.
        await Store.SettleAsync(Settle(tag, "att-old", "acct-a", flop: 70, gpu: 700, at: T0 - (10 * Day), now: T0 - (10 * Day)));
        await Store.SettleAsync(Settle(tag, "att-new", "acct-a", flop: 10, gpu: 100));

        CounterLimit[] limits =
        [
            Limit("acct-a", Rolling24h, Metric.FlopUnits, 100), // 10 + 20 fits
            Limit("acct-a", Rolling24h, Metric.GpuSeconds, 1000), // 100 + 200 fits
            Limit("acct-a", Rolling30d, Metric.FlopUnits, 99), // 80 + 20 = 100 > 99
            Limit("acct-a", Lifetime, Metric.GpuSeconds, 10_000), // fits
        ];
        var result = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 20, gpu: 200, limits: limits));

        Assert.Equal(ReserveStatus.Refused, result.Status);
        Assert.Null(result.Hold);
        Assert.Equal([2], result.FailedLimits);
        Assert.Equal(80, result.Snapshot.Get("acct-a", Rolling30d.Id, Metric.FlopUnits).Usage);
        Assert.Equal(10, result.Snapshot.Get("acct-a", Rolling24h.Id, Metric.FlopUnits).Usage);
        Assert.Equal(0, await HeldAsync(tag, CounterSubject.Cluster, Metric.FlopUnits));
        Assert.Equal(0, await HeldAsync(tag, CounterSubject.Cluster, Metric.GpuSeconds));
        // Nothing was held, so the lease is free: the same lease with a fitting amount is admitted.
        var retry = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 19, gpu: 200, limits: limits));
        Assert.Equal(ReserveStatus.Admitted, retry.Status);
    }

    [Fact]
    public async Task Reserve_AtExactBoundary_AdmitsAndOneMoreUnitIsRefused()
    {
        var tag = await NewInitializedTagAsync();
        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 30));
        var limit = Limit("acct-a", Rolling24h, Metric.FlopUnits, 100);
        Assert.Equal(ReserveStatus.Admitted, (await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 30, limits: [limit]))).Status);

        // usage 30 + held 30 + 40 == 100.
        var exact = await Store.ReserveAsync(Reserve(tag, "lease-2", "acct-a", flop: 40, limits: [limit]));
        var over = await Store.ReserveAsync(Reserve(tag, "lease-3", "acct-a", flop: 1, limits: [limit]));

        Assert.Equal(ReserveStatus.Admitted, exact.Status);
        Assert.Equal(ReserveStatus.Refused, over.Status);
        var reading = over.Snapshot.Get("acct-a", Rolling24h.Id, Metric.FlopUnits);
        Assert.Equal((30, 70), (reading.Usage, reading.Held));
    }

    [Fact]
    public async Task Reserve_WhenAmountOfAMetricIsZero_PassesThatMetricsChecks()
    {
        var tag = await NewInitializedTagAsync();
        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", gpu: 500));

        var result = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 5, gpu: 0, limits:
        [
            Limit("acct-a", Rolling24h, Metric.GpuSeconds, 100), // already exceeded, but the request adds none
            Limit("acct-a", Rolling24h, Metric.FlopUnits, 5),
        ]));

        Assert.Equal(ReserveStatus.Admitted, result.Status);
    }

    [Fact]
    public async Task Reserve_CheckOnly_AdmitsWithoutHolding()
    {
        var tag = await NewInitializedTagAsync();
        var limit = Limit("acct-a", Rolling24h, Metric.FlopUnits, 10);

        var check = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 10, limits: [limit], checkOnly: true));
        var refusedCheck = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 11, limits: [limit], checkOnly: true));

        Assert.Equal(ReserveStatus.Admitted, check.Status);
        Assert.Null(check.Hold);
        Assert.Equal(ReserveStatus.Refused, refusedCheck.Status);
        Assert.Equal(0, await HeldAsync(tag, "acct-a", Metric.FlopUnits));
        // The lease was not taken by the check.
        Assert.Equal(ReserveStatus.Admitted, (await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 10, limits: [limit]))).Status);
    }

    [Fact]
    public async Task Reserve_SameLeaseTwice_ReturnsAlreadyHeldWithTheSameHold()
    {
        var tag = await NewInitializedTagAsync();
        var first = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 10, gpu: 20, expiresAt: T0 + 600));

        // Different amounts and a limit it could never pass: the existing reservation is returned anyway.
        var second = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 99, gpu: 99, now: T0 + 5, limits:
            [Limit("acct-a", Lifetime, Metric.FlopUnits, 0)]));

        Assert.Equal(ReserveStatus.AlreadyHeld, second.Status);
        Assert.Equal(first.Hold, second.Hold);
        Assert.Equal(new CounterHold("lease-1", "acct-a", 10, 20, T0 + 600), second.Hold);
        // For AlreadyHeld, held includes the existing hold of this lease; nothing was added.
        Assert.Equal(10, second.Snapshot.Get("acct-a", Lifetime.Id, Metric.FlopUnits).Held);
        Assert.Equal(10, await HeldAsync(tag, CounterSubject.Cluster, Metric.FlopUnits));
    }

    [Fact]
    public async Task Reserve_KeepsTheTermsWithTheHold_ReturnsThemOnARepeat_AndDropsThemWithTheHold()
    {
        var tag = await NewInitializedTagAsync();
        var first = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 10, gpu: 20, expiresAt: T0 + 600) with
        {
            Hold = new HoldRequest("lease-1", "acct-a", 10, 20, T0 + 600, "H100-SXM|1|3600"),
        });
        var repeat = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 99, gpu: 99, now: T0 + 5) with
        {
            Hold = new HoldRequest("lease-1", "acct-a", 99, 99, T0 + 605, "H100-SXM|8|36000"),
        });
        // A partial settle shrinks the hold and keeps its terms; they travel with it to another tag.
        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 4, gpu: 5, now: T0 + 10, lease: "lease-1"));
        var moved = await Store.ReadHoldsAsync(tag, T0 + 10);
        var other = await NewInitializedTagAsync();
        await Store.RestoreHoldsAsync(other, T0 + 10, moved);
        var restored = await Store.ReserveAsync(Reserve(other, "lease-1", "acct-a", now: T0 + 11));
        // The final settle deletes the hold and its terms: the id can start a new lease with none.
        await Store.SettleAsync(Settle(tag, "att-2", "acct-a", flop: 1, gpu: 1, now: T0 + 20, lease: "lease-1", final: true));
        var again = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 3, gpu: 3, now: T0 + 21));

        Assert.Equal(new CounterHold("lease-1", "acct-a", 10, 20, T0 + 600, "H100-SXM|1|3600"), first.Hold);
        Assert.Equal((ReserveStatus.AlreadyHeld, first.Hold), (repeat.Status, repeat.Hold));
        Assert.Equal([new CounterHold("lease-1", "acct-a", 6, 15, T0 + 600, "H100-SXM|1|3600")], moved);
        Assert.Equal((ReserveStatus.AlreadyHeld, "H100-SXM|1|3600"), (restored.Status, restored.Hold?.Terms));
        Assert.Equal((ReserveStatus.Admitted, new CounterHold("lease-1", "acct-a", 3, 3, T0 + 21 + Hour)), (again.Status, again.Hold));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.ReserveAsync(Reserve(tag, "lease-2", "acct-a") with
        {
            Hold = new HoldRequest("lease-2", "acct-a", 1, 1, T0 + 600, new string('x', CounterHold.MaxTermsLength + 1)),
        }));
    }

    [Fact]
    public async Task Reserve_OtherLeasesHolds_CountAgainstLimits()
    {
        var tag = await NewInitializedTagAsync();
        var limit = Limit(CounterSubject.Cluster, Rolling30d, Metric.GpuSeconds, 100);
        Assert.Equal(ReserveStatus.Admitted, (await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", gpu: 60, limits: [limit]))).Status);

        var second = await Store.ReserveAsync(Reserve(tag, "lease-2", "acct-b", gpu: 50, limits: [limit]));

        Assert.Equal(ReserveStatus.Refused, second.Status);
        Assert.Equal(60, second.Snapshot.Get(CounterSubject.Cluster, Rolling30d.Id, Metric.GpuSeconds).Held);
        Assert.Equal(0, second.Snapshot.Get("acct-b", Rolling30d.Id, Metric.GpuSeconds).Held);
    }

    [Fact]
    public async Task Reserve_WithNegativeAmount_ThrowsBeforeTouchingTheStore()
    {
        var tag = NewTag(); // not initialised: a store that looked would answer EpochMissing

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: -1)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", gpu: -1)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: -1)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.SettleAsync(Settle(tag, "att-1", "acct-a", gpu: -5)));
    }

    [Fact]
    public async Task Reserve_WithLimitOnUnknownWindowOrBadIds_Throws()
    {
        var tag = await NewInitializedTagAsync();
        var otherWindow = new CounterWindow("7d", 7 * Day, Day);

        await Assert.ThrowsAsync<ArgumentException>(() => Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 1,
            limits: [Limit("acct-a", otherWindow, Metric.FlopUnits, 5)])));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.ReserveAsync(Reserve(tag, "lease-1", "acct|a", flop: 1)));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.ReserveAsync(Reserve(tag, "lease\t1", "acct-a", flop: 1)));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.SettleAsync(Settle(tag, "att\u00851", "acct-a", flop: 1)));
        // '#' starts the Redis store's own fields in a holds hash: refused by both stores alike.
        await Assert.ThrowsAsync<ArgumentException>(() => Store.ReserveAsync(Reserve(tag, "#f:*", "acct-a", flop: 1)));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.ReleaseAsync(tag, "lease#1", "acct-a", T0));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.ReleaseAsync(tag, "lease-1", "acct|a", T0));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.ReadAsync("m{1}:a", T0, Windows, ["acct-a"]));
    }

    [Fact]
    public async Task ManyWindows_EachCountAndAgeOnTheirOwn()
    {
        // More windows than the in-memory store keeps inline in a subject.
        IReadOnlyList<CounterWindow> windows =
        [
            new("1h", Hour, 60), new("6h", 6 * Hour, Hour), Rolling24h, new("7d", 7 * Day, Day), Rolling30d, Lifetime,
        ];
        var tag = await NewInitializedTagAsync();
        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 7, gpu: 1, now: T0, windows: windows));
        await Store.SettleAsync(Settle(tag, "att-2", "acct-b", flop: 3, now: T0 + (2 * Hour), windows: windows));

        var read = await Store.ReadAsync(tag, T0 + (2 * Hour), windows, ["acct-a", CounterSubject.Cluster]);
        long[] expected = [3, 10, 10, 10, 10, 10];
        for (var i = 0; i < windows.Count; i++)
        {
            Assert.Equal(expected[i], read.Snapshot.Get(CounterSubject.Cluster, windows[i].Id, Metric.FlopUnits).Usage);
            Assert.Equal(i == 0 ? 0 : 7, read.Snapshot.Get("acct-a", windows[i].Id, Metric.FlopUnits).Usage);
        }

        Assert.Equal(1, read.Snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.GpuSeconds).Usage);
    }

    [Fact]
    public async Task Windows_LongerThanTheLimit_AndUsageBeyondTheLatestTime_AreRefused()
    {
        // Bounds that keep a bucket's end plus a window's length inside int64 (the stores compare times without dividing).
        var tag = await NewInitializedTagAsync();
        var endless = new CounterWindow("endless", CounterWindow.MaxSeconds + 1, CounterWindow.MaxSeconds);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 5, windows: [endless])));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.SettleAsync(Settle(tag, "att-2", "acct-a", flop: 5, at: CounterWindow.MaxTime + 1)));
        var longest = new CounterWindow("longest", CounterWindow.MaxSeconds, CounterWindow.MaxSeconds);
        await Store.SettleAsync(Settle(tag, "att-3", "acct-a", flop: 5, windows: [longest], at: CounterWindow.MaxTime));
        var read = await Store.ReadAsync(tag, T0, [longest], ["acct-a"]);
        Assert.Equal(5, read.Snapshot.Get("acct-a", longest.Id, Metric.FlopUnits).Usage);
    }

    // ---------- holds: expiry and release ----------

    [Fact]
    public async Task Holds_ExpireByNow_AndThePrunedCountIsReported()
    {
        var tag = await NewInitializedTagAsync();
        await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 10, expiresAt: T0 + 60));
        await Store.ReserveAsync(Reserve(tag, "lease-2", "acct-b", flop: 20, expiresAt: T0 + 120));

        Assert.Equal(30, await HeldAsync(tag, CounterSubject.Cluster, Metric.FlopUnits, now: T0 + 59));
        // ExpiresAt <= now is expired.
        var reserve = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 5, now: T0 + 60));

        Assert.Equal(ReserveStatus.Admitted, reserve.Status); // a new hold, not AlreadyHeld
        Assert.Equal(1, reserve.ExpiredHoldsPruned);
        Assert.Equal(20, reserve.Snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.FlopUnits).Held);
        var read = await Store.ReadAsync(tag, T0 + (2 * Hour), Windows, [CounterSubject.Cluster]);
        Assert.Equal(2, read.ExpiredHoldsPruned);
        Assert.Equal(0, read.Snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.FlopUnits).Held);
    }

    [Fact]
    public async Task Holds_ExpiringOneByOne_ArePrunedEachAtItsOwnTime_AndSettledOrReheldLeasesAreNotPrunedTwice()
    {
        var tag = await NewInitializedTagAsync();
        // Ten holds of 1..10 units, lease-i expiring at T0 + 10 i, across two accounts.
        for (var i = 1; i <= 10; i++)
        {
            await Store.ReserveAsync(Reserve(tag, $"lease-{i}", i % 2 == 0 ? "acct-a" : "acct-b", flop: i, gpu: 2 * i, expiresAt: T0 + (10 * i)));
        }

        // lease-3 settles in full before its time; lease-4 settles in full and is held again, later, with 100 units.
        await Store.SettleAsync(Settle(tag, "att-3", "acct-b", flop: 3, lease: "lease-3", final: true, now: T0 + 1));
        await Store.SettleAsync(Settle(tag, "att-4", "acct-a", flop: 4, lease: "lease-4", final: true, now: T0 + 2));
        await Store.ReserveAsync(Reserve(tag, "lease-4", "acct-a", flop: 100, gpu: 100, now: T0 + 3, expiresAt: T0 + 1000));
        // lease-6 shrinks to 2 units.
        await Store.SettleAsync(Settle(tag, "att-6", "acct-a", flop: 4, gpu: 12, lease: "lease-6", now: T0 + 4));

        var pruned = new List<int>();
        var held = new List<(long Cluster, long A, long GpuCluster)>();
        for (var now = T0 + 10; now <= T0 + 110; now += 10)
        {
            var read = await Store.ReadAsync(tag, now, Windows, [CounterSubject.Cluster, "acct-a"]);
            pruned.Add(read.ExpiredHoldsPruned);
            held.Add((read.Snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.FlopUnits).Held,
                read.Snapshot.Get("acct-a", Lifetime.Id, Metric.FlopUnits).Held,
                read.Snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.GpuSeconds).Held));
        }

        // Every live hold is pruned exactly at its expiry; lease-3 (settled) and lease-4 (held again) are not.
        Assert.Equal([1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0], pruned);
        // After lease-1 expired: leases 2, 5, 6 (shrunk to 2 units and 0 GPU-seconds), 7, 8, 9, 10 and the new lease-4.
        Assert.Equal((2 + 5 + 2 + 7 + 8 + 9 + 10 + 100, 2 + 2 + 8 + 10 + 100, 4 + 10 + 0 + 14 + 16 + 18 + 20 + 100), held[0]);
        Assert.Equal((100, 100, 100), held[^1]);
        Assert.Equal(ReleaseStatus.Released, (await Store.ReleaseAsync(tag, "lease-4", "acct-a", T0 + 200)).Status);
        Assert.Equal(0, await HeldAsync(tag, CounterSubject.Cluster, Metric.FlopUnits, now: T0 + 200));
        Assert.Equal(0, await HeldAsync(tag, CounterSubject.Cluster, Metric.GpuSeconds, now: T0 + 200));
    }

    [Fact]
    public async Task ManyHolds_ExpiringOneByOne_ArePrunedEachAtItsOwnTime()
    {
        // Forty holds (more than a store may keep without an index), lease-i of i units expiring at
        // T0 + 10 i; every third settles in full first, and lease-5 is held again, later.
        var tag = await NewInitializedTagAsync();
        for (var i = 1; i <= 40; i++)
        {
            await Store.ReserveAsync(Reserve(tag, $"lease-{i}", $"acct-{i % 3}", flop: i, expiresAt: T0 + (10 * i)));
        }

        for (var i = 3; i <= 40; i += 3)
        {
            await Store.SettleAsync(Settle(tag, $"att-{i}", $"acct-{i % 3}", flop: i, lease: $"lease-{i}", final: true, now: T0 + 1));
        }

        await Store.SettleAsync(Settle(tag, "att-5", "acct-2", flop: 5, lease: "lease-5", final: true, now: T0 + 2));
        await Store.ReserveAsync(Reserve(tag, "lease-5", "acct-2", flop: 1000, now: T0 + 3, expiresAt: T0 + 1000));

        var live = Enumerable.Range(1, 40).Where(i => i % 3 != 0 && i != 5).ToList();
        for (var now = T0 + 10; now <= T0 + 400; now += 10)
        {
            var read = await Store.ReadAsync(tag, now, Windows, [CounterSubject.Cluster]);
            var expiring = live.Where(i => T0 + (10 * i) == now).ToList();
            var held = live.Where(i => T0 + (10 * i) > now).Sum() + 1000;
            Assert.Equal((expiring.Count, (long)held), (read.ExpiredHoldsPruned, read.Snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.FlopUnits).Held));
        }
    }

    [Fact]
    public async Task HundredsOfHolds_InOneTag_FollowAModel_ThroughReleasesSettlesRepeatsExpiriesAndAKeepingReset()
    {
        // Three hundred holds of three accounts in one tag, each expiring at its own time, then
        // visited in a shuffled order (released, by another account first; settled in full or in
        // part; reserved again) while time runs past every expiry: what each call answers, the holds
        // read back, the held sums and the pruned counts follow a model all the way.
        var tag = await NewInitializedTagAsync();
        var random = new Random(11);
        var model = new Dictionary<string, CounterHold>(StringComparer.Ordinal);
        var now = T0;
        for (var i = 0; i < 300; i++)
        {
            var hold = new CounterHold($"lease-{i}", $"acct-{i % 3}", random.Next(1, 1000), random.Next(0, 100), T0 + 100 + random.Next(0, 2000));
            var reserved = await Store.ReserveAsync(Reserve(tag, hold.LeaseId, hold.AccountId, hold.FlopUnits, hold.GpuSeconds, now, hold.ExpiresAt));
            Assert.Equal((ReserveStatus.Admitted, hold), (reserved.Status, reserved.Hold));
            model.Add(hold.LeaseId, hold);
        }

        async Task AssertHoldsAsync()
        {
            Assert.Equal(model.Values.OrderBy(h => h.LeaseId, StringComparer.Ordinal), await Store.ReadHoldsAsync(tag, now));
        }

        await AssertHoldsAsync();
        var order = model.Keys.ToArray();
        random.Shuffle(order);
        for (var step = 0; step < order.Length; step++)
        {
            now += 7;
            var expired = model.Values.Where(h => h.ExpiresAt <= now).Select(h => h.LeaseId).ToList();
            expired.ForEach(id => model.Remove(id));
            var read = await Store.ReadAsync(tag, now, Windows, [CounterSubject.Cluster, "acct-1"]);
            Assert.Equal(
                (expired.Count, model.Values.Sum(h => h.FlopUnits), model.Values.Sum(h => h.GpuSeconds), model.Values.Where(h => h.AccountId == "acct-1").Sum(h => h.FlopUnits)),
                (read.ExpiredHoldsPruned, read.Snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.FlopUnits).Held,
                    read.Snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.GpuSeconds).Held, read.Snapshot.Get("acct-1", Lifetime.Id, Metric.FlopUnits).Held));

            var leaseId = order[step];
            var owner = $"acct-{int.Parse(leaseId["lease-".Length..], System.Globalization.CultureInfo.InvariantCulture) % 3}";
            var live = model.TryGetValue(leaseId, out var held);
            switch (step % 4)
            {
                case 0:
                    Assert.Equal(ReleaseStatus.NotFound, (await Store.ReleaseAsync(tag, leaseId, owner == "acct-0" ? "acct-1" : "acct-0", now)).Status);
                    Assert.Equal(live ? ReleaseStatus.Released : ReleaseStatus.NotFound, (await Store.ReleaseAsync(tag, leaseId, owner, now)).Status);
                    model.Remove(leaseId);
                    break;
                case 1:
                    Assert.Equal(live, (await Store.SettleAsync(Settle(tag, $"att-{step}", owner, flop: 5, lease: leaseId, final: true, now: now))).HoldFound);
                    model.Remove(leaseId);
                    break;
                case 2:
                    Assert.Equal(live, (await Store.SettleAsync(Settle(tag, $"att-{step}", owner, flop: 300, gpu: 30, lease: leaseId, now: now))).HoldFound);
                    if (live)
                    {
                        model[leaseId] = held! with { FlopUnits = Math.Max(0, held.FlopUnits - 300), GpuSeconds = Math.Max(0, held.GpuSeconds - 30) };
                    }

                    break;
                default:
                    var again = new CounterHold(leaseId, owner, 1, 1, now + 50 + random.Next(0, 500));
                    var reserved = await Store.ReserveAsync(Reserve(tag, leaseId, owner, 1, 1, now, again.ExpiresAt));
                    Assert.Equal(live ? (ReserveStatus.AlreadyHeld, held) : (ReserveStatus.Admitted, again), (reserved.Status, reserved.Hold));
                    model[leaseId] = live ? held! : again;
                    break;
            }

            if (step % 25 == 0)
            {
                await AssertHoldsAsync();
            }

            if (step == 150)
            {
                // A reset that keeps the holds keeps every one as it is.
                await Store.ResetTagAsync(tag, keepHolds: true);
                await Store.InitializeTagAsync(tag, "epoch-2");
                await AssertHoldsAsync();
            }
        }

        await AssertHoldsAsync();
        now += 3000;
        var last = await Store.ReadAsync(tag, now, Windows, [CounterSubject.Cluster]);
        Assert.Equal((model.Count, 0L), (last.ExpiredHoldsPruned, last.Snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.FlopUnits).Held));
        Assert.Empty(await Store.ReadHoldsAsync(tag, now));
    }

    [Fact]
    public async Task Release_RemovesTheLiveHold()
    {
        var tag = await NewInitializedTagAsync();
        await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 10, gpu: 10));
        await Store.ReserveAsync(Reserve(tag, "lease-2", "acct-a", flop: 5, gpu: 5));

        var released = await Store.ReleaseAsync(tag, "lease-1", "acct-a", T0 + 1);
        var again = await Store.ReleaseAsync(tag, "lease-1", "acct-a", T0 + 2);

        Assert.Equal(ReleaseStatus.Released, released.Status);
        Assert.Equal(ReleaseStatus.NotFound, again.Status);
        Assert.Equal(5, await HeldAsync(tag, "acct-a", Metric.FlopUnits, now: T0 + 2));
    }

    [Fact]
    public async Task Release_ByAnotherAccountOfTheTag_LeavesTheHold_AndByItsHolderReleasesIt()
    {
        // Linked accounts share a tag: the same lease id from another of them is another lease.
        var tag = await NewInitializedTagAsync();
        await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 10, gpu: 4) with { Hold = new HoldRequest("lease-1", "acct-a", 10, 4, T0 + Hour, "terms-1") });

        var byOther = await Store.ReleaseAsync(tag, "lease-1", "acct-b", T0 + 1);

        Assert.Equal(ReleaseStatus.NotFound, byOther.Status);
        Assert.Equal(new CounterHold("lease-1", "acct-a", 10, 4, T0 + Hour, "terms-1"), Assert.Single(await Store.ReadHoldsAsync(tag, T0 + 1)));
        Assert.Equal(10, await HeldAsync(tag, CounterSubject.Cluster, Metric.FlopUnits, now: T0 + 1));

        var byHolder = await Store.ReleaseAsync(tag, "lease-1", "acct-a", T0 + 2);

        Assert.Equal(ReleaseStatus.Released, byHolder.Status);
        Assert.Empty(await Store.ReadHoldsAsync(tag, T0 + 2));
        Assert.Equal(0, await HeldAsync(tag, CounterSubject.Cluster, Metric.FlopUnits, now: T0 + 2));
    }

    [Fact]
    public async Task Release_WhenUnknownOrExpired_ReturnsNotFound()
    {
        var tag = await NewInitializedTagAsync();
        await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 10, expiresAt: T0 + 60));

        Assert.Equal(ReleaseStatus.NotFound, (await Store.ReleaseAsync(tag, "lease-unknown", "acct-a", T0)).Status);
        Assert.Equal(ReleaseStatus.NotFound, (await Store.ReleaseAsync(tag, "lease-1", "acct-a", T0 + 60)).Status);
    }

    // ---------- settle ----------

    [Fact]
    public async Task Settle_CountsInEveryWindowAndForBothSubjects()
    {
        var tag = await NewInitializedTagAsync();

        var result = await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 7, gpu: 11));

        Assert.Equal(SettleStatus.Applied, result.Status);
        var snapshot = await ReadAsync(tag, T0, "acct-a", CounterSubject.Cluster, "acct-b");
        foreach (var subject in new[] { "acct-a", CounterSubject.Cluster })
        {
            foreach (var window in Windows)
            {
                Assert.Equal(7, snapshot.Get(subject, window.Id, Metric.FlopUnits).Usage);
                Assert.Equal(11, snapshot.Get(subject, window.Id, Metric.GpuSeconds).Usage);
            }
        }

        Assert.All(snapshot.Readings.Where(r => r.Subject == "acct-b"), r => Assert.Equal(0, r.Usage));
    }

    [Fact]
    public async Task Settle_SameAttestationIdTwice_CountsOnce()
    {
        var tag = await NewInitializedTagAsync();

        var first = await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 7));
        var second = await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 7, now: T0 + Day));

        Assert.Equal(SettleStatus.Applied, first.Status);
        Assert.Equal(SettleStatus.Duplicate, second.Status);
        Assert.Equal(7, await UsageAsync(tag, "acct-a", Lifetime, Metric.FlopUnits));
    }

    [Fact]
    public async Task Settle_OneAttestationIdOfTwoProviders_CountsEach_AndEachOnce()
    {
        var tag = await NewInitializedTagAsync();
        // Ids of the longest length the attestation service accepts, so the longest mark.
        var id = "att-" + new string('x', 124);
        var ofFirst = CountedMark.For("prov-" + new string('a', 123), id);
        var ofSecond = CountedMark.For("prov-2", id);

        var first = await Store.SettleAsync(Settle(tag, ofFirst, "acct-a", flop: 7));
        var second = await Store.SettleAsync(Settle(tag, ofSecond, "acct-a", flop: 5));
        var again = await Store.SettleAsync(Settle(tag, ofSecond, "acct-a", flop: 5, now: T0 + Hour));
        // A bare id (an event of the earlier version) is a mark of its own.
        var bare = await Store.SettleAsync(Settle(tag, id, "acct-a", flop: 3));

        Assert.Equal([SettleStatus.Applied, SettleStatus.Applied, SettleStatus.Duplicate, SettleStatus.Applied], new[] { first.Status, second.Status, again.Status, bare.Status });
        Assert.Equal(15, await UsageAsync(tag, "acct-a", Lifetime, Metric.FlopUnits));
        Assert.Throws<ArgumentException>(() => CountedMark.For("prov/1", "att-1"));
    }

    [Fact]
    public async Task Settle_Partial_ReducesTheHold_AndFinalReleasesTheRemainder()
    {
        var tag = await NewInitializedTagAsync();
        await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 100, gpu: 50, expiresAt: T0 + Day));

        var partial = await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 30, gpu: 80, lease: "lease-1"));

        Assert.True(partial.HoldFound);
        var snapshot = await ReadAsync(tag, T0, "acct-a");
        Assert.Equal(70, snapshot.Get("acct-a", Lifetime.Id, Metric.FlopUnits).Held);
        Assert.Equal(0, snapshot.Get("acct-a", Lifetime.Id, Metric.GpuSeconds).Held); // not below zero
        Assert.Equal(80, snapshot.Get("acct-a", Lifetime.Id, Metric.GpuSeconds).Usage);
        // The reduced hold keeps its lease and expiry.
        var again = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 1));
        Assert.Equal(new CounterHold("lease-1", "acct-a", 70, 0, T0 + Day), again.Hold);

        var final = await Store.SettleAsync(Settle(tag, "att-2", "acct-a", flop: 10, lease: "lease-1", final: true, now: T0 + 10));

        Assert.True(final.HoldFound);
        snapshot = await ReadAsync(tag, T0 + 10, "acct-a", CounterSubject.Cluster);
        Assert.Equal(0, snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.FlopUnits).Held);
        Assert.Equal(40, snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.FlopUnits).Usage);
        Assert.Equal(ReleaseStatus.NotFound, (await Store.ReleaseAsync(tag, "lease-1", "acct-a", T0 + 10)).Status);
    }

    [Fact]
    public async Task Settle_ByAnotherAccountOfTheTag_CountsItsUsage_AndLeavesTheHoldersHold()
    {
        // Linked accounts share a tag: an attestation naming acct-b with acct-a's lease id is acct-b's
        // usage, not a settlement of acct-a's reservation.
        var tag = await NewInitializedTagAsync();
        var hold = new CounterHold("lease-1", "acct-a", 100, 50, T0 + Day, "terms-1");
        await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a") with { Hold = new HoldRequest("lease-1", "acct-a", 100, 50, T0 + Day, "terms-1") });

        var partial = await Store.SettleAsync(Settle(tag, "att-1", "acct-b", flop: 30, gpu: 20, lease: "lease-1", now: T0 + 1));
        var final = await Store.SettleAsync(Settle(tag, "att-2", "acct-b", flop: 5, lease: "lease-1", final: true, now: T0 + 2));

        Assert.Equal((SettleStatus.Applied, false), (partial.Status, partial.HoldFound));
        Assert.Equal((SettleStatus.Applied, false), (final.Status, final.HoldFound));
        Assert.Equal(hold, Assert.Single(await Store.ReadHoldsAsync(tag, T0 + 2)));
        var snapshot = await ReadAsync(tag, T0 + 2, "acct-a", "acct-b", CounterSubject.Cluster);
        Assert.Equal((0, 100), Figures(snapshot, "acct-a", Lifetime, Metric.FlopUnits));
        Assert.Equal((35, 0), Figures(snapshot, "acct-b", Lifetime, Metric.FlopUnits));
        Assert.Equal((35, 100), Figures(snapshot, CounterSubject.Cluster, Lifetime, Metric.FlopUnits));
        Assert.Equal((20, 50), Figures(snapshot, CounterSubject.Cluster, Lifetime, Metric.GpuSeconds));

        // By its holder, the same lease settles as before.
        var byHolder = await Store.SettleAsync(Settle(tag, "att-3", "acct-a", flop: 40, gpu: 10, lease: "lease-1", now: T0 + 3));

        Assert.True(byHolder.HoldFound);
        Assert.Equal(hold with { FlopUnits = 60, GpuSeconds = 40 }, Assert.Single(await Store.ReadHoldsAsync(tag, T0 + 3)));

        var finalByHolder = await Store.SettleAsync(Settle(tag, "att-4", "acct-a", flop: 1, lease: "lease-1", final: true, now: T0 + 4));

        Assert.True(finalByHolder.HoldFound);
        Assert.Empty(await Store.ReadHoldsAsync(tag, T0 + 4));
        Assert.Equal((76, 0), Figures(await ReadAsync(tag, T0 + 4), CounterSubject.Cluster, Lifetime, Metric.FlopUnits));
    }

    [Fact]
    public async Task Settle_WithoutReservation_StillCounts()
    {
        var tag = await NewInitializedTagAsync();

        var unknownLease = await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 3, lease: "lease-never-held"));
        var noLease = await Store.SettleAsync(Settle(tag, "att-2", "acct-a", flop: 4, lease: null, final: true));

        Assert.Equal((SettleStatus.Applied, false), (unknownLease.Status, unknownLease.HoldFound));
        Assert.Equal((SettleStatus.Applied, false), (noLease.Status, noLease.HoldFound));
        Assert.Equal(7, await UsageAsync(tag, "acct-a", Rolling24h, Metric.FlopUnits));
        Assert.Equal(7, await UsageAsync(tag, CounterSubject.Cluster, Rolling30d, Metric.FlopUnits));
    }

    [Fact]
    public async Task Settle_AfterTheHoldExpired_CountsWithoutIt()
    {
        var tag = await NewInitializedTagAsync();
        await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 10, expiresAt: T0 + 60));

        var result = await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 4, lease: "lease-1", now: T0 + 60));

        Assert.Equal((SettleStatus.Applied, 1, false), (result.Status, result.ExpiredHoldsPruned, result.HoldFound));
        Assert.Equal(4, await UsageAsync(tag, "acct-a", Lifetime, Metric.FlopUnits, now: T0 + 60));
    }

    [Fact]
    public async Task Settle_AmountsNear10To14Units_StayExact()
    {
        var tag = await NewInitializedTagAsync();
        const long big = 100_000_000_000_000; // 10^26 FLOP in 10^12 units
        await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: big + 3, gpu: big, expiresAt: T0 + Day));

        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: big - 1, gpu: 1, lease: "lease-1"));
        await Store.SettleAsync(Settle(tag, "att-2", "acct-a", flop: big + 7, lease: null));

        var snapshot = await ReadAsync(tag, T0, "acct-a");
        var flop = snapshot.Get("acct-a", Rolling24h.Id, Metric.FlopUnits);
        Assert.Equal(((2 * big) + 6, 4), (flop.Usage, flop.Held));
        Assert.Equal(big - 1, snapshot.Get("acct-a", Lifetime.Id, Metric.GpuSeconds).Held);
        var limit = Limit("acct-a", Lifetime, Metric.FlopUnits, (2 * big) + 6 + 4 + 5);
        Assert.Equal(ReserveStatus.Admitted, (await Store.ReserveAsync(Reserve(tag, "lease-2", "acct-a", flop: 5, limits: [limit]))).Status);
        Assert.Equal(ReserveStatus.Refused, (await Store.ReserveAsync(Reserve(tag, "lease-3", "acct-a", flop: 1, limits: [limit]))).Status);
    }

    // ---------- windows, buckets, resets ----------

    [Fact]
    public async Task RollingWindow_UsageLeavesAfterNowPassesIt_ButStaysInLifetime()
    {
        var tag = await NewInitializedTagAsync();
        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 5, at: T0 + 10));

        var inside = await ReadAsync(tag, T0 + Day - 1, "acct-a");
        var after = await ReadAsync(tag, T0 + Day + Hour, "acct-a");

        Assert.Equal(5, inside.Get("acct-a", Rolling24h.Id, Metric.FlopUnits).Usage);
        Assert.Equal(0, after.Get("acct-a", Rolling24h.Id, Metric.FlopUnits).Usage);
        Assert.Equal(5, after.Get("acct-a", Rolling30d.Id, Metric.FlopUnits).Usage);
        Assert.Equal(5, after.Get("acct-a", Lifetime.Id, Metric.FlopUnits).Usage);
        Assert.Equal(5, (await ReadAsync(tag, T0 + (400 * Day), "acct-a")).Get("acct-a", Lifetime.Id, Metric.FlopUnits).Usage);
        Assert.Equal(0, (await ReadAsync(tag, T0 + (31 * Day), "acct-a")).Get("acct-a", Rolling30d.Id, Metric.FlopUnits).Usage);
    }

    [Fact]
    public async Task RollingWindow_CountsWholeBuckets_UntilTheBucketsEndLeavesTheWindow()
    {
        var tag = await NewInitializedTagAsync();
        // Bucket [T0, T0 + 1h) of the 24h window; counted iff T0 + 1h > now - 24h.
        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", gpu: 9, at: T0 + 1));

        Assert.Equal(9, await UsageAsync(tag, "acct-a", Rolling24h, Metric.GpuSeconds, now: T0 + Hour + Day - 1));
        Assert.Equal(0, await UsageAsync(tag, "acct-a", Rolling24h, Metric.GpuSeconds, now: T0 + Hour + Day));
        // Pruned, not just hidden: reading at an earlier now again does not bring it back.
        Assert.Equal(0, await UsageAsync(tag, "acct-a", Rolling24h, Metric.GpuSeconds, now: T0 + Hour));
        Assert.Equal(9, await UsageAsync(tag, "acct-a", Lifetime, Metric.GpuSeconds, now: T0 + Hour));
    }

    [Fact]
    public async Task RollingWindow_SumsBucketsAndPrunesOnlyTheOldOnes()
    {
        var tag = await NewInitializedTagAsync();
        for (var h = 0; h < 30; h++)
        {
            await Store.SettleAsync(Settle(tag, $"att-{h}", "acct-a", flop: 1, at: T0 + (h * Hour), now: T0 + (h * Hour)));
        }

        // At T0 + 30h the 24h window counts buckets whose end is after T0 + 6h: hours 6..29.
        Assert.Equal(24, await UsageAsync(tag, "acct-a", Rolling24h, Metric.FlopUnits, now: T0 + (30 * Hour)));
        Assert.Equal(30, await UsageAsync(tag, "acct-a", Rolling30d, Metric.FlopUnits, now: T0 + (30 * Hour)));
        Assert.Equal(14, await UsageAsync(tag, "acct-a", Rolling24h, Metric.FlopUnits, now: T0 + (40 * Hour)));
    }

    [Fact]
    public async Task Settle_WithIntervalEndAlreadyOutsideTheWindow_CountsOnlyWhereItFits()
    {
        var tag = await NewInitializedTagAsync();

        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 6, at: T0 - (2 * Day), now: T0));

        var snapshot = await ReadAsync(tag, T0, "acct-a");
        Assert.Equal(0, snapshot.Get("acct-a", Rolling24h.Id, Metric.FlopUnits).Usage);
        Assert.Equal(6, snapshot.Get("acct-a", Rolling30d.Id, Metric.FlopUnits).Usage);
        Assert.Equal(6, snapshot.Get("acct-a", Lifetime.Id, Metric.FlopUnits).Usage);
    }

    [Fact]
    public async Task RollingWindow_CountsBucketsInTheFuture()
    {
        var tag = await NewInitializedTagAsync();

        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 6, at: T0 + (3 * Hour), now: T0));

        Assert.Equal(6, await UsageAsync(tag, "acct-a", Rolling24h, Metric.FlopUnits, now: T0));
    }

    [Fact]
    public async Task ResetsAt_IsTheOldestCountedBucketsEndPlusTheLength()
    {
        var tag = await NewInitializedTagAsync();
        var empty = await ReadAsync(tag, T0, "acct-a");
        Assert.All(empty.Readings, r => Assert.Null(r.ResetsAt));

        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 1, at: T0 + (2 * Hour) + 5, now: T0 + (2 * Hour) + 5));
        await Store.SettleAsync(Settle(tag, "att-2", "acct-a", flop: 1, gpu: 1, at: T0 + (5 * Hour), now: T0 + (5 * Hour)));

        var snapshot = await ReadAsync(tag, T0 + (6 * Hour), "acct-a");
        Assert.Equal(T0 + (3 * Hour) + Day, snapshot.Get("acct-a", Rolling24h.Id, Metric.FlopUnits).ResetsAt);
        Assert.Equal(T0 + (6 * Hour) + Day, snapshot.Get("acct-a", Rolling24h.Id, Metric.GpuSeconds).ResetsAt);
        Assert.Equal(T0 + Day + (30 * Day), snapshot.Get("acct-a", Rolling30d.Id, Metric.FlopUnits).ResetsAt);
        Assert.Null(snapshot.Get("acct-a", Lifetime.Id, Metric.FlopUnits).ResetsAt);

        // Once the oldest bucket has left, the next one sets the time.
        var later = await ReadAsync(tag, T0 + (3 * Hour) + Day, "acct-a");
        Assert.Equal(T0 + (6 * Hour) + Day, later.Get("acct-a", Rolling24h.Id, Metric.FlopUnits).ResetsAt);
        Assert.Equal(1, later.Get("acct-a", Rolling24h.Id, Metric.FlopUnits).Usage);
    }

    // ---------- marks: retention ----------

    [Fact]
    public async Task Settle_AfterTheMarkExpired_CountsTheSameIdAgain()
    {
        // This is why the caller refuses to settle live an event older than the retention
        // (it rebuilds the tag from the ledger instead).
        var tag = await NewInitializedTagAsync();
        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 2, retention: 100));

        var beforeExpiry = await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 2, now: T0 + 99, retention: 100));
        var atExpiry = await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 2, now: T0 + 100, retention: 100));

        Assert.Equal(SettleStatus.Duplicate, beforeExpiry.Status);
        Assert.Equal(SettleStatus.Applied, atExpiry.Status);
        Assert.Equal(4, await UsageAsync(tag, "acct-a", Lifetime, Metric.FlopUnits, now: T0 + 100));
    }

    [Fact]
    public async Task Settle_WithNullRetention_KeepsNoMark()
    {
        var tag = await NewInitializedTagAsync();

        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 2, retention: null));
        var again = await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 2, retention: null));

        Assert.Equal(SettleStatus.Applied, again.Status);
        Assert.Equal(4, await UsageAsync(tag, "acct-a", Lifetime, Metric.FlopUnits));
    }

    [Fact]
    public async Task Settle_WithNullRetention_StillHonoursAnExistingMark()
    {
        var tag = await NewInitializedTagAsync();
        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 2));

        var replayed = await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 2, retention: null));

        Assert.Equal(SettleStatus.Duplicate, replayed.Status);
    }

    // ---------- epoch and reset ----------

    [Fact]
    public async Task InitializeTag_SetsTheEpoch()
    {
        var tag = NewTag();
        Assert.Null(await Store.GetEpochAsync(tag));

        await Store.InitializeTagAsync(tag, "epoch-7");

        Assert.Equal("epoch-7", await Store.GetEpochAsync(tag));
    }

    [Fact]
    public async Task EveryOperation_WhenTheEpochIsMissing_ReturnsEpochMissingAndChangesNothing()
    {
        var tag = NewTag();

        var reserve = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 5));
        var check = await Store.ReserveAsync(Reserve(tag, "lease-2", "acct-a", flop: 5, checkOnly: true));
        var settle = await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 5, lease: "lease-1"));
        var release = await Store.ReleaseAsync(tag, "lease-1", "acct-a", T0);
        var read = await Store.ReadAsync(tag, T0, Windows, ["acct-a"]);

        Assert.Equal(ReserveStatus.EpochMissing, reserve.Status);
        Assert.Equal(ReserveStatus.EpochMissing, check.Status);
        Assert.Empty(reserve.Snapshot.Readings);
        Assert.Equal(SettleStatus.EpochMissing, settle.Status);
        Assert.Equal(ReleaseStatus.EpochMissing, release.Status);
        Assert.Equal(ReadStatus.EpochMissing, read.Status);
        Assert.Null(await Store.GetEpochAsync(tag));

        await Store.InitializeTagAsync(tag, "epoch-1");
        var snapshot = await ReadAsync(tag, T0, "acct-a", CounterSubject.Cluster);
        Assert.All(snapshot.Readings, r => Assert.Equal((0, 0), (r.Usage, r.Held)));
        // The refused settle left no mark either.
        Assert.Equal(SettleStatus.Applied, (await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 5))).Status);
    }

    [Fact]
    public async Task Settle_WhileRebuilding_CountsWithoutAnEpoch_AndAdmissionStaysClosedUntilInitialised()
    {
        var tag = NewTag();

        var rebuilt = await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 7) with { Rebuilding = true });
        var reserve = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 1));
        var live = await Store.SettleAsync(Settle(tag, "att-2", "acct-a", flop: 1));

        Assert.Equal(SettleStatus.Applied, rebuilt.Status);
        Assert.Equal(ReserveStatus.EpochMissing, reserve.Status);
        Assert.Equal(SettleStatus.EpochMissing, live.Status);
        await Store.InitializeTagAsync(tag, "epoch-2");
        Assert.Equal(7, await UsageAsync(tag, "acct-a", Lifetime, Metric.FlopUnits));
        // The rebuild restored the mark: the same event arriving live is not counted again.
        Assert.Equal(SettleStatus.Duplicate, (await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 7))).Status);
    }

    [Fact]
    public async Task ResetTag_ClearsCountersHoldsMarksAndTheEpoch()
    {
        var tag = await NewInitializedTagAsync();
        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 5, gpu: 5));
        await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 5));
        var other = await NewInitializedTagAsync();
        await Store.SettleAsync(Settle(other, "att-1", "acct-a", flop: 3));

        await Store.ResetTagAsync(tag);

        Assert.Null(await Store.GetEpochAsync(tag));
        Assert.Equal(SettleStatus.EpochMissing, (await Store.SettleAsync(Settle(tag, "att-2", "acct-a", flop: 1))).Status);
        await Store.InitializeTagAsync(tag, "epoch-2");
        var snapshot = await ReadAsync(tag, T0, "acct-a", CounterSubject.Cluster);
        Assert.All(snapshot.Readings, r => Assert.Equal((0, 0, (long?)null), (r.Usage, r.Held, r.ResetsAt)));
        Assert.Equal(SettleStatus.Applied, (await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 5))).Status);
        Assert.Equal(ReserveStatus.Admitted, (await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 5))).Status);
        // Another tag is untouched.
        Assert.Equal(3, await UsageAsync(other, "acct-a", Lifetime, Metric.FlopUnits));
    }

    [Fact]
    public async Task ResetTag_KeepingHolds_KeepsThemAsTheyAre_AndTheRebuildsSettlesCountWithoutTouchingThem()
    {
        var tag = await NewInitializedTagAsync();
        // lease-1: used once (final), then held again under the same id: a rebuild must not apply
        // the first use's attestation to the second hold.
        await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 100, expiresAt: T0 + Day));
        SettleCommand[] ledger =
        [
            Settle(tag, "att-1", "acct-a", flop: 30, gpu: 5, lease: "lease-1", final: true, now: T0 + 1),
            Settle(tag, "att-2", "acct-b", flop: 10, gpu: 40, lease: "lease-2", now: T0 + 3),
            Settle(tag, "att-3", "acct-b", flop: 7, now: T0 + 4),
        ];
        await Store.SettleAsync(ledger[0]);
        await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 50, gpu: 50, now: T0 + 2, expiresAt: T0 + Day));
        await Store.ReserveAsync(Reserve(tag, "lease-2", "acct-b", flop: 40, gpu: 40, now: T0 + 2, expiresAt: T0 + Day));
        await Store.ReserveAsync(Reserve(tag, "lease-3", "acct-b", flop: 9, now: T0 + 2, expiresAt: T0 + 60));
        await Store.SettleAsync(ledger[1]);
        await Store.SettleAsync(ledger[2]);
        var before = await ReadAsync(tag, T0 + 5, "acct-a", "acct-b", CounterSubject.Cluster);

        await Store.ResetTagAsync(tag, keepHolds: true);

        // Fails closed like any reset; the settles of a rebuild count and mark, and leave holds alone.
        Assert.Null(await Store.GetEpochAsync(tag));
        Assert.Equal(ReserveStatus.EpochMissing, (await Store.ReserveAsync(Reserve(tag, "lease-9", "acct-a", flop: 1, now: T0 + 5))).Status);
        foreach (var settle in ledger)
        {
            var rebuilt = await Store.SettleAsync(settle with { Now = T0 + 5, Rebuilding = true });
            Assert.Equal((SettleStatus.Applied, false), (rebuilt.Status, rebuilt.HoldFound));
        }

        await Store.InitializeTagAsync(tag, "epoch-2");
        var after = await ReadAsync(tag, T0 + 5, "acct-a", "acct-b", CounterSubject.Cluster);
        Assert.Equal(before.Readings, after.Readings);
        Assert.Equal(50 + 30 + 9, after.Get(CounterSubject.Cluster, Lifetime.Id, Metric.FlopUnits).Held);
        Assert.Equal(new CounterHold("lease-1", "acct-a", 50, 50, T0 + Day), (await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 1, now: T0 + 5))).Hold);
        Assert.Equal(SettleStatus.Duplicate, (await Store.SettleAsync(ledger[1] with { Now = T0 + 6 })).Status);
        // Kept holds still expire at their time and settle live as before; a reset without keeping drops them.
        Assert.Equal(1, (await Store.ReadAsync(tag, T0 + 60, Windows, [CounterSubject.Cluster])).ExpiredHoldsPruned);
        Assert.True((await Store.SettleAsync(Settle(tag, "att-4", "acct-b", flop: 1, lease: "lease-2", final: true, now: T0 + 61))).HoldFound);
        Assert.Equal(50, await HeldAsync(tag, CounterSubject.Cluster, Metric.FlopUnits, now: T0 + 61));
        await Store.ResetTagAsync(tag);
        await Store.InitializeTagAsync(tag, "epoch-3");
        Assert.Equal(0, await HeldAsync(tag, CounterSubject.Cluster, Metric.FlopUnits, now: T0 + 61));
    }

    [Fact]
    public async Task Holds_MoveToATagBeingRebuilt_AsTheyAre_ReplacingAndLeavingOutExpiredOnes()
    {
        var from = await NewInitializedTagAsync();
        await Store.ReserveAsync(Reserve(from, "lease-1", "acct-a", flop: 100, gpu: 50, expiresAt: T0 + Day));
        await Store.ReserveAsync(Reserve(from, "lease-2", "acct-a", flop: 5, expiresAt: T0 + 60));
        await Store.SettleAsync(Settle(from, "att-1", "acct-a", flop: 30, gpu: 10, lease: "lease-1", now: T0 + 1));

        var holds = await Store.ReadHoldsAsync(from, T0 + 60);

        // lease-2 expired at T0 + 60; lease-1 comes as it is held now.
        Assert.Equal([new CounterHold("lease-1", "acct-a", 70, 40, T0 + Day)], holds);
        Assert.Equal(70, await HeldAsync(from, "acct-a", Metric.FlopUnits, now: T0 + 60));

        var to = NewTag();
        await Store.ResetTagAsync(to, keepHolds: true);
        await Store.RestoreHoldsAsync(to, T0 + 60, [.. holds, new CounterHold("lease-old", "acct-b", 7, 7, T0 + 60)]);
        await Store.RestoreHoldsAsync(to, T0 + 60, holds); // again: replaced, not added twice
        await Store.InitializeTagAsync(to, "epoch-1");

        var snapshot = await ReadAsync(to, T0 + 60, "acct-a", "acct-b", CounterSubject.Cluster);
        Assert.Equal((70L, 40L), (snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.FlopUnits).Held, snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.GpuSeconds).Held));
        Assert.Equal(70, snapshot.Get("acct-a", Lifetime.Id, Metric.FlopUnits).Held);
        Assert.Equal(0, snapshot.Get("acct-b", Lifetime.Id, Metric.FlopUnits).Held);
        Assert.Equal(new CounterHold("lease-1", "acct-a", 70, 40, T0 + Day), (await Store.ReserveAsync(Reserve(to, "lease-1", "acct-a", flop: 1, now: T0 + 60))).Hold);
        Assert.True((await Store.SettleAsync(Settle(to, "att-2", "acct-a", flop: 70, lease: "lease-1", final: true, now: T0 + 61))).HoldFound);
        Assert.Equal(0, await HeldAsync(to, CounterSubject.Cluster, Metric.FlopUnits, now: T0 + 61));
        Assert.Empty(await Store.ReadHoldsAsync(NewTag(), T0));
    }

    // ---------- the cluster subject ----------

    [Fact]
    public async Task ClusterSubject_AggregatesAccountsSettlementsAndHolds()
    {
        var tag = await NewInitializedTagAsync();
        await Store.SettleAsync(Settle(tag, "att-a", "acct-a", flop: 10, gpu: 1));
        await Store.SettleAsync(Settle(tag, "att-b", "acct-b", flop: 20, gpu: 2));
        await Store.ReserveAsync(Reserve(tag, "lease-a", "acct-a", flop: 100));
        await Store.ReserveAsync(Reserve(tag, "lease-b", "acct-b", flop: 200, gpu: 7));

        var snapshot = await ReadAsync(tag, T0, "acct-a", "acct-b", CounterSubject.Cluster);

        var cluster = snapshot.Get(CounterSubject.Cluster, Rolling24h.Id, Metric.FlopUnits);
        Assert.Equal((30, 300), (cluster.Usage, cluster.Held));
        Assert.Equal((3, 7), (snapshot.Get(CounterSubject.Cluster, Rolling30d.Id, Metric.GpuSeconds).Usage,
            snapshot.Get(CounterSubject.Cluster, Rolling30d.Id, Metric.GpuSeconds).Held));
        var a = snapshot.Get("acct-a", Rolling24h.Id, Metric.FlopUnits);
        Assert.Equal((10, 100), (a.Usage, a.Held));
        var b = snapshot.Get("acct-b", Lifetime.Id, Metric.FlopUnits);
        Assert.Equal((20, 200), (b.Usage, b.Held));

        // A shared (cluster) limit refuses acct-a because of acct-b's usage and hold.
        var shared = Limit(CounterSubject.Cluster, Rolling24h, Metric.FlopUnits, 340);
        var own = Limit("acct-a", Rolling24h, Metric.FlopUnits, 1000);
        var refused = await Store.ReserveAsync(Reserve(tag, "lease-a2", "acct-a", flop: 11, limits: [own, shared]));
        Assert.Equal(ReserveStatus.Refused, refused.Status);
        Assert.Equal([1], refused.FailedLimits);
        Assert.Equal(ReserveStatus.Admitted, (await Store.ReserveAsync(Reserve(tag, "lease-a2", "acct-a", flop: 10, limits: [own, shared]))).Status);
    }

    [Fact]
    public async Task ClusterSubject_WhenASecondAccountJoinsLater_StillSumsTheFirstAccountsEarlierUsageAndHolds()
    {
        // Alone in its tag, an account's figures are its cluster's; a second account joining later
        // must find the first one's earlier buckets and live hold in the cluster, and both keep ageing.
        var tag = await NewInitializedTagAsync();
        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 10, gpu: 1, now: T0));
        await Store.SettleAsync(Settle(tag, "att-2", "acct-a", flop: 5, now: T0 + (2 * Hour)));
        await Store.ReserveAsync(Reserve(tag, "lease-a", "acct-a", flop: 100, gpu: 4, now: T0 + (2 * Hour), expiresAt: T0 + (40 * Hour)));

        await Store.SettleAsync(Settle(tag, "att-3", "acct-b", flop: 20, now: T0 + (3 * Hour)));
        await Store.SettleAsync(Settle(tag, "att-4", "acct-a", flop: 30, now: T0 + (3 * Hour), lease: "lease-a"));

        var joined = await ReadAsync(tag, T0 + (3 * Hour), "acct-a", "acct-b", CounterSubject.Cluster);
        Assert.Equal((65, 70), Figures(joined, CounterSubject.Cluster, Rolling24h, Metric.FlopUnits));
        Assert.Equal((1, 4), Figures(joined, CounterSubject.Cluster, Rolling24h, Metric.GpuSeconds));
        Assert.Equal((45, 70), Figures(joined, "acct-a", Rolling24h, Metric.FlopUnits));
        Assert.Equal((20, 0), Figures(joined, "acct-b", Rolling24h, Metric.FlopUnits));

        // The first hour's bucket leaves the 24-hour window for both subjects, and the hold's release frees both.
        var later = T0 + Day + Hour;
        Assert.Equal(ReleaseStatus.Released, (await Store.ReleaseAsync(tag, "lease-a", "acct-a", later)).Status);
        var aged = await ReadAsync(tag, later, "acct-a", CounterSubject.Cluster);
        Assert.Equal((55, 0), Figures(aged, CounterSubject.Cluster, Rolling24h, Metric.FlopUnits));
        Assert.Equal((35, 0), Figures(aged, "acct-a", Rolling24h, Metric.FlopUnits));
        Assert.Equal((65, 0), Figures(aged, CounterSubject.Cluster, Lifetime, Metric.FlopUnits));
    }

    private static (long Usage, long Held) Figures(CounterSnapshot snapshot, string subject, CounterWindow window, Metric metric)
    {
        var reading = snapshot.Get(subject, window.Id, metric);
        return (reading.Usage, reading.Held);
    }

    // ---------- concurrency ----------

    [Fact]
    public async Task Reserve_ManyInParallel_AdmitsExactlyWhatTheLimitsAllow()
    {
        var tag = await NewInitializedTagAsync();
        const int k = 37;
        const long amount = 10;
        await Store.SettleAsync(Settle(tag, "att-0", "acct-0", flop: 5)); // usage that the limit also counts
        var limits = new[]
        {
            Limit(CounterSubject.Cluster, Rolling24h, Metric.FlopUnits, (k * amount) + 5 + (amount - 1)),
            Limit(CounterSubject.Cluster, Lifetime, Metric.GpuSeconds, 1_000_000),
        };

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(() =>
            Store.ReserveAsync(Reserve(tag, $"lease-{i}", $"acct-{i % 7}", flop: amount, gpu: 1, limits: limits)))));

        Assert.Equal(k, results.Count(r => r.Status == ReserveStatus.Admitted));
        Assert.Equal(200 - k, results.Count(r => r.Status == ReserveStatus.Refused));
        Assert.Equal(k * amount, await HeldAsync(tag, CounterSubject.Cluster, Metric.FlopUnits));
        Assert.Equal(k, await HeldAsync(tag, CounterSubject.Cluster, Metric.GpuSeconds));
    }

    [Fact]
    public async Task Settle_SameIdManyTimesInParallel_CountsOnce()
    {
        var tag = await NewInitializedTagAsync();

        var results = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => Task.Run(() =>
            Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 3, gpu: 4)))));

        Assert.Equal(1, results.Count(r => r.Status == SettleStatus.Applied));
        Assert.Equal(99, results.Count(r => r.Status == SettleStatus.Duplicate));
        var snapshot = await ReadAsync(tag, T0, "acct-a", CounterSubject.Cluster);
        Assert.Equal(3, snapshot.Get(CounterSubject.Cluster, Rolling24h.Id, Metric.FlopUnits).Usage);
        Assert.Equal(4, snapshot.Get("acct-a", Lifetime.Id, Metric.GpuSeconds).Usage);
    }

    [Fact]
    public async Task Settle_DifferentIdsInParallel_CountsEveryOne()
    {
        var tag = await NewInitializedTagAsync();

        await Task.WhenAll(Enumerable.Range(0, 100).Select(i => Task.Run(() =>
            Store.SettleAsync(Settle(tag, $"att-{i}", $"acct-{i % 3}", flop: 1, at: T0 + i)))));

        Assert.Equal(100, await UsageAsync(tag, CounterSubject.Cluster, Rolling24h, Metric.FlopUnits));
        Assert.Equal(34, await UsageAsync(tag, "acct-0", Rolling30d, Metric.FlopUnits));
    }
}
