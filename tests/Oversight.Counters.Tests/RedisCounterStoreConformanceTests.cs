using Oversight.Enforcement.Redis;
using Oversight.Policy;
using Oversight.Policy.Counters;
using Oversight.Testing;
using StackExchange.Redis;

namespace Oversight.Counters.Tests;

/// <summary>
/// One connection to the test Redis for every test of the class (tests use their own tags). The
/// endpoint comes from <see cref="TestServers.RedisConfiguration"/> (tests/run.sh, or
/// Testcontainers); without one it throws, naming what to run: never a silent skip.
/// </summary>
public sealed class RedisCounterStoreFixture : IDisposable
{
    public RedisCounterStoreFixture()
    {
        var options = ConfigurationOptions.Parse(TestServers.RedisConfiguration);
        options.AbortOnConnectFail = true;
        options.AllowAdmin = true; // SCRIPT FLUSH in a test of the NOSCRIPT fallback
        Connection = ConnectionMultiplexer.Connect(options);
        Store = new RedisCounterStore(Connection);
    }

    public ConnectionMultiplexer Connection { get; }

    public RedisCounterStore Store { get; }

    public void Dispose() => Connection.Dispose();
}

public sealed class RedisCounterStoreConformanceTests(RedisCounterStoreFixture fixture)
    : CounterStoreConformanceTests(fixture.Store), IClassFixture<RedisCounterStoreFixture>
{
    [Fact]
    public async Task Scripts_AfterServerScriptCacheIsFlushed_StillRun()
    {
        var tag = await NewInitializedTagAsync();
        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 5));
        foreach (var endpoint in fixture.Connection.GetEndPoints())
        {
            await fixture.Connection.GetServer(endpoint).ScriptFlushAsync();
        }

        var result = await Store.SettleAsync(Settle(tag, "att-2", "acct-a", flop: 7));

        Assert.Equal(SettleStatus.Applied, result.Status);
        var read = await Store.ReadAsync(tag, T0, Windows, ["acct-a"]);
        Assert.Equal(12, read.Snapshot.Get("acct-a", Lifetime.Id, Metric.FlopUnits).Usage);
    }

    [Fact]
    public async Task Terms_LeftBehindByTheScriptsBeforeTerms_DoNotCountForALaterHoldOfTheLease()
    {
        // While both versions share Redis, an older replica deletes a hold without its terms and
        // holds the lease again without any: those terms must not meet the new hold.
        var tag = await NewInitializedTagAsync();
        var database = fixture.Connection.GetDatabase();
        await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 10, gpu: 1) with { Hold = new HoldRequest("lease-1", "acct-a", 10, 1, T0 + Hour, "old-terms") });
        await database.HashSetAsync(RedisCounterKeys.Holds(tag), "lease-1", $"acct-a|10|1|{T0 + (2 * Hour)}"); // held again, later expiry
        await database.SortedSetAddAsync(RedisCounterKeys.HoldExpiries(tag), "lease-1", T0 + (2 * Hour));

        var repeat = await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", now: T0 + 5) with { Hold = new HoldRequest("lease-1", "acct-a", 10, 1, T0 + Hour, "new-terms") });
        var holds = await Store.ReadHoldsAsync(tag, T0 + 5);

        Assert.Equal((ReserveStatus.AlreadyHeld, (string?)null), (repeat.Status, repeat.Hold?.Terms));
        Assert.Null(Assert.Single(holds).Terms);
    }

    [Fact]
    public async Task Holds_OfTheEarlierLayout_AreTakenOverAtTheFirstCall_SummedIndexedAndPruned()
    {
        // Holds as the scripts wrote them before held sums and the expiry index existed.
        var tag = await NewInitializedTagAsync();
        var database = fixture.Connection.GetDatabase();
        await database.HashSetAsync(RedisCounterKeys.EarlierHolds(tag),
        [
            new HashEntry("lease-1", $"acct-a|10|4|{T0 + 60}"),
            new HashEntry("lease-2", $"acct-b|20|6|{T0 + 120}"),
        ]);

        Assert.Equal(30, await HeldAsync(tag, CounterSubject.Cluster, Metric.FlopUnits));
        Assert.False(await database.KeyExistsAsync(RedisCounterKeys.EarlierHolds(tag)));
        Assert.Equal(4, await HeldAsync(tag, "acct-a", Metric.GpuSeconds));
        // Those holds carry their account too: only it releases them.
        var byOther = await Store.ReleaseAsync(tag, "lease-2", "acct-a", T0 + 1);
        var release = await Store.ReleaseAsync(tag, "lease-2", "acct-b", T0 + 1);
        var read = await Store.ReadAsync(tag, T0 + 60, Windows, [CounterSubject.Cluster]);

        Assert.Equal(ReleaseStatus.NotFound, byOther.Status);
        Assert.Equal(ReleaseStatus.Released, release.Status);
        Assert.Equal(1, read.ExpiredHoldsPruned);
        Assert.Equal(0, read.Snapshot.Get(CounterSubject.Cluster, Lifetime.Id, Metric.FlopUnits).Held);
        Assert.False(await database.KeyExistsAsync(RedisCounterKeys.Holds(tag)));
        Assert.Equal(0, await database.SortedSetLengthAsync(RedisCounterKeys.HoldExpiries(tag)));
    }

    [Fact]
    public async Task Keys_AllShareTheTagsHashSlot()
    {
        var tag = await NewInitializedTagAsync();
        await Store.SettleAsync(Settle(tag, "att-1", "acct-a", flop: 5, gpu: 3));
        await Store.ReserveAsync(Reserve(tag, "lease-1", "acct-a", flop: 1));

        var server = fixture.Connection.GetServer(fixture.Connection.GetEndPoints()[0]);
        var keys = server.Keys(pattern: "ovs:{" + tag + "}:*").ToList();
        Assert.NotEmpty(keys);
        var slots = keys.Select(k => fixture.Connection.HashSlot(k)).Distinct().ToList();
        Assert.Single(slots);
    }
}
