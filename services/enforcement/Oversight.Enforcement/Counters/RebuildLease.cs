using Microsoft.Extensions.Logging;
using Oversight.Enforcement.Redis;
using Oversight.Policy.Counters;
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
    Task<IHeldRebuildLease?> TryAcquireAsync(string tag, CancellationToken cancellationToken);
}

/// <summary>A rebuild lease held; disposing it lets it go.</summary>
public interface IHeldRebuildLease : IAsyncDisposable
{
    /// <summary>
    /// Writes the tag's epoch, which ends the rebuild (admission on the tag resumes), only while
    /// this lease is still held: a rebuild that stalled past its lease (a paused process) must not
    /// open the tag while another holder is resetting and rebuilding it. False when the lease was lost.
    /// </summary>
    Task<bool> InitializeTagAsync(string epoch, CancellationToken cancellationToken);
}

/// <summary>The in-memory store lives in one process, whose per-tag gate already serialises rebuilds.</summary>
public sealed class InProcessRebuildLease(ICounterStore store) : IRebuildLease
{
    public Task<IHeldRebuildLease?> TryAcquireAsync(string tag, CancellationToken cancellationToken) =>
        Task.FromResult<IHeldRebuildLease?>(new Gate(store, tag));

    private sealed class Gate(ICounterStore store, string tag) : IHeldRebuildLease
    {
        public async Task<bool> InitializeTagAsync(string epoch, CancellationToken cancellationToken)
        {
            await store.InitializeTagAsync(tag, epoch, cancellationToken);
            return true;
        }

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

    // RedisCounterStore.InitializeTagAsync's SET of the epoch, done only by the lease's holder
    // (the lease and the epoch are keys of the tag's slot, so one script sees both).
    private const string InitializeScript = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[2], ARGV[2]) return 1 end return 0";

    public async Task<IHeldRebuildLease?> TryAcquireAsync(string tag, CancellationToken cancellationToken)
    {
        var key = RedisCounterKeys.RebuildLease(tag);
        var token = Guid.NewGuid().ToString("N");
        var database = redis.GetDatabase();
        if (!await database.StringSetAsync(key, token, LeaseTime, When.NotExists))
        {
            return null;
        }

        return new Lease(database, key, RedisCounterKeys.Epoch(tag), token, logger);
    }

    private sealed class Lease : IHeldRebuildLease
    {
        private readonly IDatabase _database;
        private readonly RedisKey _key;
        private readonly RedisKey _epoch;
        private readonly string _token;
        private readonly Timer _renewal;

        public Lease(IDatabase database, RedisKey key, RedisKey epoch, string token, ILogger logger)
        {
            _database = database;
            _key = key;
            _epoch = epoch;
            _token = token;
            var every = LeaseTime / 3;
            _renewal = new Timer(_ => _ = RenewAsync(logger), null, every, every);
        }

        public async Task<bool> InitializeTagAsync(string epoch, CancellationToken cancellationToken)
        {
            ArgumentException.ThrowIfNullOrEmpty(epoch);
            return (long)await _database.ScriptEvaluateAsync(InitializeScript, [_key, _epoch], [_token, epoch]) == 1;
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
