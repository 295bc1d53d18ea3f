using Microsoft.Extensions.Logging;
using Oversight.Enforcement.Redis;
using StackExchange.Redis;

namespace Oversight.Enforcement.Counters;

/// <summary>
/// Who may rebuild a tag right now. A rebuild resets the tag (epoch, counters, holds, marks)
/// and writes it again from the ledger; two replicas doing that at once would let the later
/// reset wipe holds added after the earlier rebuild finished, so only the lease holder rebuilds
/// and the others wait for its epoch.
/// </summary>
public interface IRebuildLease
{
    /// <summary>Takes the tag's rebuild lease, or returns null at once when another holder has it.</summary>
    Task<IAsyncDisposable?> TryAcquireAsync(string tag, CancellationToken cancellationToken);
}

/// <summary>The in-memory store lives in one process, whose per-tag gate already serialises rebuilds.</summary>
public sealed class InProcessRebuildLease : IRebuildLease
{
    public Task<IAsyncDisposable?> TryAcquireAsync(string tag, CancellationToken cancellationToken) =>
        Task.FromResult<IAsyncDisposable?>(NoLease.Instance);

    private sealed class NoLease : IAsyncDisposable
    {
        public static readonly NoLease Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>
/// The lease as a Redis key in the tag's slot (<see cref="RedisCounterKeys.RebuildLease"/>): SET NX
/// with a time to live, renewed while the rebuild runs and deleted (only by its holder) at the
/// end. A holder that dies leaves a key that expires within <see cref="LeaseTime"/>.
/// </summary>
public sealed class RedisRebuildLease(IConnectionMultiplexer redis, ILogger<RedisRebuildLease> logger) : IRebuildLease
{
    public static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(30);

    private const string RenewScript = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
    private const string ReleaseScript = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

    public async Task<IAsyncDisposable?> TryAcquireAsync(string tag, CancellationToken cancellationToken)
    {
        var key = RedisCounterKeys.RebuildLease(tag);
        var token = Guid.NewGuid().ToString("N");
        var database = redis.GetDatabase();
        if (!await database.StringSetAsync(key, token, LeaseTime, When.NotExists))
        {
            return null;
        }

        return new Lease(database, key, token, logger);
    }

    private sealed class Lease : IAsyncDisposable
    {
        private readonly IDatabase _database;
        private readonly RedisKey _key;
        private readonly string _token;
        private readonly Timer _renewal;

        public Lease(IDatabase database, RedisKey key, string token, ILogger logger)
        {
            _database = database;
            _key = key;
            _token = token;
            var every = LeaseTime / 3;
            _renewal = new Timer(_ => _ = RenewAsync(logger), null, every, every);
        }

        public async ValueTask DisposeAsync()
        {
            await _renewal.DisposeAsync();
            // Only this holder's key is deleted; if Redis is down now the key expires by itself.
            await _database.ScriptEvaluateAsync(ReleaseScript, [_key], [_token]);
        }

        private async Task RenewAsync(ILogger logger)
        {
            try
            {
                await _database.ScriptEvaluateAsync(RenewScript, [_key], [_token, (long)LeaseTime.TotalMilliseconds]);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // The rebuild itself fails on the same outage; nothing to decide here.
                logger.LogWarning(e, "Could not renew the rebuild lease {Key}", (string?)_key);
            }
        }
    }
}
