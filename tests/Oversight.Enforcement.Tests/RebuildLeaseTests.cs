using Microsoft.Extensions.Logging.Abstractions;
using Oversight.Enforcement.Counters;
using Oversight.Enforcement.Redis;
using Oversight.Testing;
using StackExchange.Redis;

namespace Oversight.Enforcement.Tests;

/// <summary>The rebuild lease on Redis: only its holder opens the tag again (writes its epoch).</summary>
public sealed class RebuildLeaseTests
{
    [Fact]
    public async Task A_rebuild_that_outlived_its_lease_does_not_write_the_epoch_while_the_new_holder_rebuilds()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(await TestServers.GetRedisConfigurationAsync());
        var store = new RedisCounterStore(redis);
        var leases = new RedisRebuildLease(redis, NullLogger<RedisRebuildLease>.Instance);
        var tag = "m:" + TestServers.UniqueId("lease");

        await using var stalled = await leases.TryAcquireAsync(tag, CancellationToken.None);
        Assert.NotNull(stalled);
        Assert.Null(await leases.TryAcquireAsync(tag, CancellationToken.None)); // held: no second holder

        // The holder was paused past the lease's time: the key expired and another replica took it.
        await redis.GetDatabase().KeyDeleteAsync(RedisCounterKeys.RebuildLease(tag));
        await using var taken = await leases.TryAcquireAsync(tag, CancellationToken.None);
        Assert.NotNull(taken);

        Assert.False(await stalled.InitializeTagAsync("stale-epoch", CancellationToken.None));
        Assert.Null(await store.GetEpochAsync(tag)); // the tag stays closed while the new holder rebuilds
        Assert.True(await taken.InitializeTagAsync("fresh-epoch", CancellationToken.None));
        Assert.Equal("fresh-epoch", await store.GetEpochAsync(tag));
    }
}
