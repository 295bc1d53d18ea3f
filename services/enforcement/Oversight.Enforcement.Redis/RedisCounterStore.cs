using Oversight.Policy;
using Oversight.Policy.Counters;
using StackExchange.Redis;

namespace Oversight.Enforcement.Redis;

/// <summary>
/// <see cref="ICounterStore"/> on Redis (standalone or Cluster): every operation but the reset is
/// one Lua script over keys of one hash tag (<see cref="RedisCounterKeys"/>), so it is atomic and
/// runs in one slot. Scripts take the caller's <c>now</c>, never the server's clock. Redis errors
/// always propagate (never swallowed: a silent undercount is a security bug).
/// </summary>
public sealed class RedisCounterStore : ICounterStore
{
    private static readonly Metric[] Metrics = [Metric.FlopUnits, Metric.GpuSeconds];

    private static readonly CounterScript ReserveScript = CounterScript.Load("reserve");
    private static readonly CounterScript SettleScript = CounterScript.Load("settle");
    private static readonly CounterScript ReleaseScript = CounterScript.Load("release");
    private static readonly CounterScript ReadScript = CounterScript.Load("read");
    private static readonly CounterScript ReadHoldsScript = CounterScript.Load("read_holds");
    private static readonly CounterScript RestoreHoldsScript = CounterScript.Load("restore_holds");

    private readonly IDatabaseAsync _database;
    private readonly long _ttlMargin;

    public RedisCounterStore(IDatabaseAsync database, RedisCounterStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        _database = database;
        _ttlMargin = (options ?? new RedisCounterStoreOptions()).TtlMarginSeconds;
        ArgumentOutOfRangeException.ThrowIfNegative(_ttlMargin, nameof(options));
    }

    public RedisCounterStore(IConnectionMultiplexer connection, RedisCounterStoreOptions? options = null)
        : this((connection ?? throw new ArgumentNullException(nameof(connection))).GetDatabase(), options)
    {
    }

    public async Task<string?> GetEpochAsync(string tag, CancellationToken cancellationToken = default)
    {
        CounterIds.ValidateTag(tag);
        var value = await _database.StringGetAsync(RedisCounterKeys.Epoch(tag)).ConfigureAwait(false);
        return value.IsNull ? null : value.ToString();
    }

    public async Task InitializeTagAsync(string tag, string epoch, CancellationToken cancellationToken = default)
    {
        CounterIds.ValidateTag(tag);
        ArgumentException.ThrowIfNullOrEmpty(epoch);
        await _database.StringSetAsync(RedisCounterKeys.Epoch(tag), epoch).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes the epoch first: from then on every script of the tag refuses (EpochMissing) and
    /// writes nothing, so the keys listed in the registry afterwards are all there is to delete.
    /// </summary>
    public async Task ResetTagAsync(string tag, bool keepHolds = false, CancellationToken cancellationToken = default)
    {
        CounterIds.ValidateTag(tag);
        await _database.KeyDeleteAsync(RedisCounterKeys.Epoch(tag)).ConfigureAwait(false);
        var registry = RedisCounterKeys.Registry(tag);
        var members = await _database.SetMembersAsync(registry).ConfigureAwait(false);
        const int batch = 500;
        for (var i = 0; i < members.Length; i += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var keys = members.Skip(i).Take(batch).Select(m => (RedisKey)m.ToString()).ToArray();
            await _database.KeyDeleteAsync(keys).ConfigureAwait(false);
        }

        await _database.KeyDeleteAsync(keepHolds
            ? [RedisCounterKeys.Marks(tag), registry]
            : [.. HoldKeys(tag), RedisCounterKeys.Marks(tag), registry]).ConfigureAwait(false);
    }

    public async Task<ReserveResult> ReserveAsync(ReserveCommand command, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Validate();
        var tag = command.Tag;
        var windows = command.Windows;

        // Readings for the command's subjects come first; subjects named only by limits follow.
        var subjects = new List<string>(command.Subjects);
        foreach (var limit in command.Limits)
        {
            if (!subjects.Contains(limit.Subject, StringComparer.Ordinal))
            {
                subjects.Add(limit.Subject);
            }
        }

        var keys = new List<RedisKey>(4 + (subjects.Count * windows.Count * 2)) { RedisCounterKeys.Epoch(tag) };
        AddHoldKeys(keys, tag);
        AddUsageKeys(keys, tag, windows, subjects);

        var hold = command.Hold;
        var values = new List<RedisValue> { command.Now, command.Subjects.Count };
        AddLayout(values, windows, subjects);
        values.Add(command.Limits.Count);
        foreach (var limit in command.Limits)
        {
            values.Add(subjects.IndexOf(limit.Subject) + 1);
            values.Add(IndexOfWindow(windows, limit.WindowId) + 1);
            values.Add(limit.Metric == Metric.FlopUnits ? 1 : 2);
            values.Add(limit.Limit);
        }

        values.Add(hold.LeaseId);
        values.Add(hold.AccountId);
        values.Add(hold.FlopUnits);
        values.Add(hold.GpuSeconds);
        values.Add(hold.ExpiresAt);
        values.Add(command.CheckOnly ? 1 : 0);
        values.Add(Math.Max(0, hold.ExpiresAt - command.Now) + _ttlMargin);
        values.Add(hold.Terms ?? "");

        var result = await ReserveScript.EvaluateAsync(_database, [.. keys], [.. values]).ConfigureAwait(false);
        var parts = Parts(result, 5, ReserveScript);
        var status = (ReserveStatus)(int)parts[0];
        if (status == ReserveStatus.EpochMissing)
        {
            return ReserveResult.EpochMissing;
        }

        var snapshot = ParseReadings(Parts(parts[2], -1, ReserveScript), command.Subjects, windows);
        var holdParts = Parts(parts[3], -1, ReserveScript);
        var stored = holdParts.Length == 5
            ? new CounterHold(hold.LeaseId, (string)holdParts[0]!, (long)holdParts[1], (long)holdParts[2], (long)holdParts[3], Terms(holdParts[4]))
            : null;
        var failed = Parts(parts[4], -1, ReserveScript).Select(r => (int)r).ToArray();
        return new ReserveResult(status, snapshot, (int)parts[1], stored, failed);
    }

    public async Task<SettleResult> SettleAsync(SettleCommand command, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Validate();
        var tag = command.Tag;
        var windows = command.Windows;
        string[] subjects = [command.AccountId, CounterSubject.Cluster];

        var keys = new List<RedisKey>(6 + (subjects.Length * windows.Count * 2)) { RedisCounterKeys.Epoch(tag) };
        AddHoldKeys(keys, tag);
        keys.Add(RedisCounterKeys.Marks(tag));
        keys.Add(RedisCounterKeys.Registry(tag));
        AddUsageKeys(keys, tag, windows, subjects);

        var retention = command.MarkRetentionSeconds;
        var values = new List<RedisValue>(11 + (windows.Count * 6))
        {
            command.Now,
            command.AttestationId,
            command.LeaseId ?? string.Empty,
            command.FlopUnits,
            command.GpuSeconds,
            command.Final ? 1 : 0,
            retention is { } r ? command.Now + r : -1,
            (retention ?? 0) + _ttlMargin,
            windows.Count,
        };
        foreach (var w in windows)
        {
            if (w.LengthSeconds is { } length)
            {
                var bucket = FloorDiv(command.At, w.BucketSeconds);
                var counted = bucket >= FloorDiv(command.Now - length, w.BucketSeconds);
                values.Add(counted ? 1 : 0);
                values.Add(bucket);
                values.Add((2 * length) + _ttlMargin);
                values.Add(2 * ((length / w.BucketSeconds) + 2));
                values.Add(length);
                values.Add(w.BucketSeconds);
            }
            else
            {
                values.Add(1);
                values.Add("t");
                values.Add(-1);
                values.Add(-1);
                values.Add(-1);
                values.Add(w.BucketSeconds);
            }
        }

        values.Add(command.Rebuilding ? 1 : 0);
        values.Add(command.AccountId);
        var result = await SettleScript.EvaluateAsync(_database, [.. keys], [.. values]).ConfigureAwait(false);
        var parts = Parts(result, 3, SettleScript);
        return new SettleResult((SettleStatus)(int)parts[0], (int)parts[1], (int)parts[2] == 1);
    }

    public async Task<ReleaseResult> ReleaseAsync(string tag, string leaseId, string accountId, long now, CancellationToken cancellationToken = default)
    {
        CounterIds.ValidateTag(tag);
        CounterIds.ValidateOpaqueId(leaseId, nameof(leaseId));
        CounterIds.ValidateAccount(accountId, nameof(accountId));
        var result = await ReleaseScript.EvaluateAsync(
            _database, [RedisCounterKeys.Epoch(tag), .. HoldKeys(tag)], [now, leaseId, accountId]).ConfigureAwait(false);
        return new ReleaseResult((ReleaseStatus)(int)result);
    }

    public async Task<ReadResult> ReadAsync(string tag, long now, IReadOnlyList<CounterWindow> windows, IReadOnlyList<string> subjects, CancellationToken cancellationToken = default)
    {
        CounterIds.ValidateTag(tag);
        CounterIds.ValidateWindows(windows);
        CounterIds.ValidateSubjects(subjects);
        var keys = new List<RedisKey>(4 + (subjects.Count * windows.Count * 2)) { RedisCounterKeys.Epoch(tag) };
        AddHoldKeys(keys, tag);
        AddUsageKeys(keys, tag, windows, subjects);
        var values = new List<RedisValue> { now };
        AddLayout(values, windows, subjects);

        var result = await ReadScript.EvaluateAsync(_database, [.. keys], [.. values]).ConfigureAwait(false);
        var parts = Parts(result, 3, ReadScript);
        if ((int)parts[0] != 1)
        {
            return ReadResult.EpochMissing;
        }

        return new ReadResult(ReadStatus.Ok, ParseReadings(Parts(parts[2], -1, ReadScript), subjects, windows), (int)parts[1]);
    }

    public async Task<IReadOnlyList<CounterHold>> ReadHoldsAsync(string tag, long now, CancellationToken cancellationToken = default)
    {
        CounterIds.ValidateTag(tag);
        var result = await ReadHoldsScript.EvaluateAsync(_database, HoldKeys(tag), [now]).ConfigureAwait(false);
        var parts = Parts(result, -1, ReadHoldsScript);
        var holds = new List<CounterHold>(parts.Length / 6);
        for (var i = 0; i + 5 < parts.Length; i += 6)
        {
            holds.Add(new CounterHold((string)parts[i]!, (string)parts[i + 1]!, (long)parts[i + 2], (long)parts[i + 3], (long)parts[i + 4], Terms(parts[i + 5])));
        }

        holds.Sort((a, b) => string.CompareOrdinal(a.LeaseId, b.LeaseId));
        return holds;
    }

    public async Task RestoreHoldsAsync(string tag, long now, IReadOnlyList<CounterHold> holds, CancellationToken cancellationToken = default)
    {
        CounterIds.ValidateTag(tag);
        CounterHold.ValidateAll(holds);
        var live = holds.Where(h => h.ExpiresAt > now).ToList();
        if (live.Count == 0)
        {
            return;
        }

        var values = new List<RedisValue>(1 + (live.Count * 5)) { Math.Max(0, live.Max(h => h.ExpiresAt) - now) + _ttlMargin };
        foreach (var hold in live)
        {
            values.AddRange([hold.LeaseId, hold.AccountId, hold.FlopUnits, hold.GpuSeconds, hold.ExpiresAt, hold.Terms ?? ""]);
        }

        await RestoreHoldsScript.EvaluateAsync(_database, HoldKeys(tag), [.. values]).ConfigureAwait(false);
    }

    // The scripts keep "no terms" as an empty string.
    private static string? Terms(RedisResult stored) => (string?)stored is { Length: > 0 } terms ? terms : null;

    /// <summary>The keys of a tag's holds, in the order every script takes them: holds, expiries, the earlier layout's holds.</summary>
    private static RedisKey[] HoldKeys(string tag) =>
        [RedisCounterKeys.Holds(tag), RedisCounterKeys.HoldExpiries(tag), RedisCounterKeys.EarlierHolds(tag)];

    private static void AddHoldKeys(List<RedisKey> keys, string tag) => keys.AddRange(HoldKeys(tag));

    private static void AddUsageKeys(List<RedisKey> keys, string tag, IReadOnlyList<CounterWindow> windows, IReadOnlyList<string> subjects)
    {
        foreach (var subject in subjects)
        {
            foreach (var window in windows)
            {
                foreach (var metric in Metrics)
                {
                    keys.Add(RedisCounterKeys.Usage(tag, window.Id, metric, subject));
                }
            }
        }
    }

    /// <summary>The layout common.lua's parse_layout reads: W, (length | -1, bucket) per window, S, subjects.</summary>
    private static void AddLayout(List<RedisValue> values, IReadOnlyList<CounterWindow> windows, IReadOnlyList<string> subjects)
    {
        values.Add(windows.Count);
        foreach (var w in windows)
        {
            values.Add(w.LengthSeconds ?? -1);
            values.Add(w.BucketSeconds);
        }

        values.Add(subjects.Count);
        foreach (var s in subjects)
        {
            values.Add(s);
        }
    }

    private static CounterSnapshot ParseReadings(RedisResult[] flat, IReadOnlyList<string> subjects, IReadOnlyList<CounterWindow> windows)
    {
        var expected = subjects.Count * windows.Count * Metrics.Length;
        if (flat.Length != expected * 3)
        {
            throw new RedisException($"Counter script returned {flat.Length} reading values; expected {expected * 3}.");
        }

        var readings = new CounterReading[expected];
        var n = 0;
        foreach (var subject in subjects)
        {
            foreach (var window in windows)
            {
                foreach (var metric in Metrics)
                {
                    var resetsAt = (long)flat[(3 * n) + 2];
                    readings[n] = new CounterReading(subject, window.Id, metric, (long)flat[3 * n], (long)flat[(3 * n) + 1], resetsAt < 0 ? null : resetsAt);
                    n++;
                }
            }
        }

        return new CounterSnapshot(readings);
    }

    private static RedisResult[] Parts(RedisResult result, int expectedLength, CounterScript script)
    {
        if (result.Resp2Type != ResultType.Array || (RedisResult[]?)result is not { } parts
            || (expectedLength >= 0 && parts.Length != expectedLength))
        {
            throw new RedisException($"Counter script '{script.Name}' returned an unexpected reply: {result}.");
        }

        return parts;
    }

    private static int IndexOfWindow(IReadOnlyList<CounterWindow> windows, string id)
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

    /// <summary>floor(a / b) for b &gt; 0.</summary>
    private static long FloorDiv(long a, long b)
    {
        var q = a / b;
        return (a % b != 0 && a < 0) ? q - 1 : q;
    }
}
