namespace Oversight.Enforcement.Redis;

/// <summary>Settings of <see cref="RedisCounterStore"/>.</summary>
public sealed class RedisCounterStoreOptions
{
    /// <summary>
    /// Added to every key TTL. TTLs are only a loose clean-up (the scripts prune by the caller's
    /// <c>now</c>): a rolling window's key lives 2 x its length plus this margin after its last write,
    /// the holds hash its longest hold plus this margin, the marks set the retention plus this margin.
    /// Lifetime counters, the epoch and the key registry have no TTL. Generous by default so that a
    /// paused simulation clock never loses counted usage.
    /// </summary>
    public long TtlMarginSeconds { get; set; } = 7 * 24 * 3600;
}
