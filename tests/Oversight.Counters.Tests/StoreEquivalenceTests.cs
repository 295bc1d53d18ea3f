using System.Globalization;
using Oversight.Enforcement.Redis;
using Oversight.Policy;
using Oversight.Policy.Counters;
using StackExchange.Redis;

namespace Oversight.Counters.Tests;

/// <summary>
/// Seeded random sequences of every store operation (reserve, settle, release, read, reset with
/// and without keeping holds, a rebuild's settles) run against the in-memory store and the Redis
/// store side by side: every answer must be the same, and after every step the Redis holds hash
/// must agree with itself (held sums = the sum of its holds, expiry index = its holds); a settle
/// (by any account of the tag) must touch no hold but that account's of its lease. Some
/// sequences also rewrite the holds into the earlier layout now and then, which the scripts must
/// take over. The conformance suite states the rules; this finds the sequences nobody wrote down.
/// </summary>
public sealed class StoreEquivalenceTests(RedisCounterStoreFixture fixture) : IClassFixture<RedisCounterStoreFixture>
{
    private const long T0 = 19_676 * 24 * 3600;
    private static readonly CounterWindow Hour = new("1h", 3600, 60);
    private static readonly CounterWindow Lifetime = CounterWindow.Lifetime("life");
    private static readonly IReadOnlyList<CounterWindow> Windows = [Hour, Lifetime];
    private static readonly string[] Accounts = ["a", "b", "c"];

    [Theory]
    [InlineData(0, false)]
    [InlineData(1000, true)]
    public async Task RandomSequences_GetTheSameAnswersFromBothStores(int firstSeed, bool earlierLayout)
    {
        for (var seed = firstSeed; seed < firstSeed + 25; seed++)
        {
            await RunAsync(seed, steps: 300, earlierLayout);
        }
    }

    private async Task RunAsync(int seed, int steps, bool earlierLayout)
    {
        var random = new Random(seed);
        var memory = new InMemoryCounterStore();
        var redis = fixture.Store;
        var database = fixture.Connection.GetDatabase();
        var tag = CounterTag.For("eq-" + Guid.NewGuid().ToString("N"), "root");
        await memory.InitializeTagAsync(tag, "e");
        await redis.InitializeTagAsync(tag, "e");
        var now = T0;
        var attestations = 0;
        var log = new List<string> { $"seed {seed}" };
        // Amounts of every size that matters: zero, small, and above 2^46 (Lua numbers are doubles).
        long Amount() => random.Next(6) switch { 0 => 0, 1 => 100_000_000_000_000L + random.Next(10), 2 => random.Next(1000), _ => random.Next(1, 20) };
        string Lease() => "l" + random.Next(6); // few ids, so leases are held again after a final settle or an expiry
        // The earlier layout had no terms: holds rewritten into it lose them, so those runs give none.
        string? Terms() => earlierLayout || random.Next(3) == 0 ? null : $"terms-{random.Next(3)}";

        for (var step = 0; step < steps; step++)
        {
            now += random.Next(4) == 0 ? random.Next(0, 30) : 0;
            var operation = random.Next(100);
            if (operation < 30)
            {
                var account = Accounts[random.Next(Accounts.Length)];
                var checkOnly = random.Next(8) == 0;
                List<CounterLimit> limits = random.Next(3) != 0 ? [] :
                [
                    new(random.Next(2) == 0 ? account : CounterSubject.Cluster, random.Next(2) == 0 ? Hour.Id : Lifetime.Id,
                        random.Next(2) == 0 ? Metric.FlopUnits : Metric.GpuSeconds, random.Next(3) == 0 ? 200_000_000_000_000L : random.Next(500)),
                ];
                var command = new ReserveCommand(tag, now, Windows, [account, CounterSubject.Cluster], limits,
                    new HoldRequest(Lease(), account, Amount(), Amount(), now + random.Next(1, 60), Terms()), checkOnly);
                log.Add($"reserve {command.Hold} checkOnly={checkOnly} limits=[{string.Join(",", limits)}] at +{now - T0}");
                var (a, b) = (await memory.ReserveAsync(command), await redis.ReserveAsync(command));
                Same(log, "reserve", (a.Status, a.ExpiredHoldsPruned, a.Hold, string.Join(",", a.FailedLimits)), (b.Status, b.ExpiredHoldsPruned, b.Hold, string.Join(",", b.FailedLimits)));
                Same(log, "reserve snapshot", string.Join(";", a.Snapshot.Readings), string.Join(";", b.Snapshot.Readings));
            }
            else if (operation < 60)
            {
                // By a random account, so some settles name a lease another account of the tag holds:
                // besides both stores' answers, the Redis holds are checked against what the settle may touch.
                var id = random.Next(10) == 0 && attestations > 0 ? "att" + random.Next(attestations) : "att" + attestations++;
                var command = new SettleCommand(tag, now, Windows, id, Accounts[random.Next(Accounts.Length)], random.Next(5) == 0 ? null : Lease(),
                    Amount(), Amount(), now - random.Next(0, 100), random.Next(3) == 0, random.Next(4) == 0 ? null : 1000);
                log.Add($"settle {command} at +{now - T0}");
                var before = await HoldsAsync(database, tag);
                var result = await redis.SettleAsync(command);
                Same(log, "settle", await memory.SettleAsync(command), result);
                await CheckSettledHoldsAsync(log, database, command, result, before);
            }
            else if (operation < 70)
            {
                // By a random account, so some releases name a lease another account of the tag holds.
                var (lease, account) = (Lease(), Accounts[random.Next(Accounts.Length)]);
                log.Add($"release {lease} by {account} at +{now - T0}");
                Same(log, "release", await memory.ReleaseAsync(tag, lease, account, now), await redis.ReleaseAsync(tag, lease, account, now));
            }
            else if (operation < 95)
            {
                log.Add($"read at +{now - T0}");
                var (a, b) = (await memory.ReadAsync(tag, now, Windows, [.. Accounts, CounterSubject.Cluster]), await redis.ReadAsync(tag, now, Windows, [.. Accounts, CounterSubject.Cluster]));
                Same(log, "read", (a.Status, a.ExpiredHoldsPruned), (b.Status, b.ExpiredHoldsPruned));
                Same(log, "read snapshot", string.Join(";", a.Snapshot.Readings), string.Join(";", b.Snapshot.Readings));
                Same(log, "holds", string.Join(";", await memory.ReadHoldsAsync(tag, now)), string.Join(";", await redis.ReadHoldsAsync(tag, now)));
            }
            else
            {
                // A rebuild: reset (keeping holds or not), a few settles from the ledger, initialise.
                var keepHolds = random.Next(3) != 0;
                log.Add($"reset keepHolds={keepHolds}");
                await memory.ResetTagAsync(tag, keepHolds);
                await redis.ResetTagAsync(tag, keepHolds);
                for (var i = random.Next(4); i > 0; i--)
                {
                    var command = new SettleCommand(tag, now, Windows, "rebuild" + attestations++, Accounts[random.Next(3)], Lease(),
                        Amount(), Amount(), now, random.Next(3) == 0, 1000, Rebuilding: true);
                    log.Add($"rebuild settle {command}");
                    Same(log, "rebuild settle", await memory.SettleAsync(command), await redis.SettleAsync(command));
                }

                await memory.InitializeTagAsync(tag, "e");
                await redis.InitializeTagAsync(tag, "e");
            }

            await CheckHoldsHashAsync(log, database, tag);
            if (earlierLayout && random.Next(15) == 0)
            {
                log.Add("holds rewritten in the earlier layout");
                await ToEarlierLayoutAsync(database, tag);
            }
        }
    }

    /// <summary>Held sums equal the sum of the hash's holds (zero sums absent), and the expiry index lists exactly its holds.</summary>
    private static async Task CheckHoldsHashAsync(List<string> log, IDatabase database, string tag)
    {
        var hash = await database.HashGetAllAsync(RedisCounterKeys.Holds(tag));
        var index = await database.SortedSetRangeByScoreWithScoresAsync(RedisCounterKeys.HoldExpiries(tag));
        var expected = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var stored = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var expiries = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var terms = new List<string>();
        foreach (var entry in hash)
        {
            var name = entry.Name.ToString();
            if (name.StartsWith("#p:", StringComparison.Ordinal))
            {
                terms.Add(name[3..]);
                continue;
            }

            if (name.StartsWith('#'))
            {
                stored[name] = (long)entry.Value;
                continue;
            }

            var parts = entry.Value.ToString().Split('|');
            Consistent(log, $"fields of hold {name}", 4, parts.Length);
            expiries[name] = long.Parse(parts[3], System.Globalization.CultureInfo.InvariantCulture);
            foreach (var subject in new[] { parts[0], CounterSubject.Cluster })
            {
                foreach (var (metric, amount) in new[] { ("#f:", parts[1]), ("#g:", parts[2]) })
                {
                    expected[metric + subject] = expected.GetValueOrDefault(metric + subject) + long.Parse(amount, System.Globalization.CultureInfo.InvariantCulture);
                }
            }
        }

        Consistent(log, "held sums", string.Join(",", expected.Where(e => e.Value != 0)), string.Join(",", stored));
        Consistent(log, "terms of holds that are gone", "", string.Join(",", terms.Where(lease => !expiries.ContainsKey(lease))));
        Consistent(log, "expiry index", string.Join(",", expiries), string.Join(",", index.OrderBy(e => e.Element.ToString(), StringComparer.Ordinal).Select(e => new KeyValuePair<string, long>(e.Element!, (long)e.Score))));
    }

    /// <summary>
    /// The settle touched only the hold of the account it names (the accounts share the tag): that
    /// hold shrank, or went when final; every other live hold is as it was.
    /// </summary>
    private static async Task CheckSettledHoldsAsync(List<string> log, IDatabase database, SettleCommand command, SettleResult result, IReadOnlyDictionary<string, string> before)
    {
        static long Number(string value) => long.Parse(value, CultureInfo.InvariantCulture);
        var expected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var found = false;
        foreach (var (lease, hold) in before)
        {
            var parts = hold.Split('|');
            if (result.Status != SettleStatus.EpochMissing && Number(parts[3]) <= command.Now)
            {
                continue; // pruned
            }

            if (result.Status == SettleStatus.Applied && lease == command.LeaseId && parts[0] == command.AccountId)
            {
                found = true;
                if (!command.Final)
                {
                    expected[lease] = $"{parts[0]}|{Math.Max(0, Number(parts[1]) - command.FlopUnits)}|{Math.Max(0, Number(parts[2]) - command.GpuSeconds)}|{parts[3]}";
                }

                continue;
            }

            expected[lease] = hold;
        }

        Consistent(log, "hold found", found, result.HoldFound);
        Consistent(log, "holds after the settle", string.Join(";", expected), string.Join(";", await HoldsAsync(database, command.Tag)));
    }

    /// <summary>The Redis holds as stored ('account|flop|gpu|expiresAt' by lease id), in either layout, without pruning.</summary>
    private static async Task<SortedDictionary<string, string>> HoldsAsync(IDatabase database, string tag)
    {
        var holds = new SortedDictionary<string, string>(StringComparer.Ordinal);
        // A lease held in both layouts keeps this layout's hold, as the scripts take them over.
        foreach (var key in new[] { RedisCounterKeys.EarlierHolds(tag), RedisCounterKeys.Holds(tag) })
        {
            foreach (var entry in await database.HashGetAllAsync(key))
            {
                if (!entry.Name.ToString().StartsWith('#'))
                {
                    holds[entry.Name.ToString()] = entry.Value.ToString();
                }
            }
        }

        return holds;
    }

    /// <summary>Moves the holds into the key and the form the scripts before held sums used.</summary>
    private static async Task ToEarlierLayoutAsync(IDatabase database, string tag)
    {
        var holds = (await database.HashGetAllAsync(RedisCounterKeys.Holds(tag))).Where(e => !e.Name.ToString().StartsWith('#')).ToArray();
        await database.KeyDeleteAsync([RedisCounterKeys.Holds(tag), RedisCounterKeys.HoldExpiries(tag)]);
        if (holds.Length > 0)
        {
            await database.HashSetAsync(RedisCounterKeys.EarlierHolds(tag), holds);
            await database.KeyExpireAsync(RedisCounterKeys.EarlierHolds(tag), TimeSpan.FromDays(1));
        }
    }

    private static void Same<T>(List<string> log, string what, T inMemory, T redis) =>
        Check(log, EqualityComparer<T>.Default.Equals(inMemory, redis), $"{what}: in memory {inMemory}, Redis {redis}");

    private static void Consistent<T>(List<string> log, string what, T expected, T found) =>
        Check(log, EqualityComparer<T>.Default.Equals(expected, found), $"Redis {what}: expected {expected}, found {found}");

    private static void Check(List<string> log, bool holds, string message)
    {
        if (!holds)
        {
            Assert.Fail($"{message}\n  after:\n    {string.Join("\n    ", log.TakeLast(30))}");
        }
    }
}
