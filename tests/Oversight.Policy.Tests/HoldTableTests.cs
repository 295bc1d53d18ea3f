using System.Globalization;
using Oversight.Policy.Counters;
using Xunit;
using HoldEntry = Oversight.Policy.Counters.InMemoryCounterStore.HoldEntry;
using SubjectState = Oversight.Policy.Counters.InMemoryCounterStore.SubjectState;

namespace Oversight.Policy.Tests;

/// <summary>
/// The in-memory store's hold table (open addressing, linear probing, removal by backward shift,
/// pruning by a walk) against a dictionary. Lease ids here name their own hash
/// (<c>"&lt;hash&gt;/&lt;n&gt;"</c>), so that the tests choose where each hold's probe run starts:
/// all in one run, runs across the end of the array, a few crowded home slots.
/// </summary>
public sealed class HoldTableTests
{
    private static readonly SubjectState[] Accounts = [new("acct-a"), new("acct-b")];

    /// <summary>The hash a lease id names before its '/'.</summary>
    private readonly struct NamedHash : ILeaseHasher
    {
        public static int Hash(string leaseId) => int.Parse(leaseId.AsSpan(0, leaseId.IndexOf('/')), CultureInfo.InvariantCulture);
    }

    private readonly struct Collected(List<HoldEntry> removed) : IHoldRemoved
    {
        public void Removed(HoldEntry hold) => removed.Add(hold);
    }

    public enum Homes
    {
        /// <summary>Every hash 0: one probe run holds everything.</summary>
        OneRun,

        /// <summary>Every hash -1: every hold's home is the last slot, so the run wraps to the start.</summary>
        AcrossTheEnd,

        /// <summary>A handful of hashes near both ends of any array.</summary>
        FewHomes,

        /// <summary>Hashes spread at random.</summary>
        Spread,
    }

    private static int HashFor(Homes homes, Random random) => homes switch
    {
        Homes.OneRun => 0,
        Homes.AcrossTheEnd => -1,
        Homes.FewHomes => new[] { -1, -2, -5, 0, 1, 3 }[random.Next(6)],
        _ => random.Next(int.MinValue, int.MaxValue),
    };

    [Theory]
    [InlineData(Homes.OneRun)]
    [InlineData(Homes.AcrossTheEnd)]
    [InlineData(Homes.FewHomes)]
    [InlineData(Homes.Spread)]
    public void HundredsOfHolds_AddedAndRemovedInShuffledOrder_AreEachFoundUntilRemoved(Homes homes)
    {
        var random = new Random((int)homes + 1);
        var table = new HoldTable<NamedHash>();
        var model = new Dictionary<string, HoldEntry>(StringComparer.Ordinal);
        var next = 0;

        // Grow to 400 holds, then mix additions and removals, then drain: the table grows through
        // every capacity, and removals hit every position of the runs, before and across the end.
        for (var step = 0; step < 1600 || model.Count > 0; step++)
        {
            var adding = step < 400 || (step < 1200 && random.Next(2) == 0);
            if (adding)
            {
                var leaseId = $"{HashFor(homes, random)}/{next++}";
                var entry = new HoldEntry(Accounts[random.Next(2)], random.Next(1, 1000), random.Next(0, 100), random.Next(1, 10_000));
                var slot = table.Find(leaseId, out var hash);
                Assert.True(slot < 0);
                if (random.Next(2) == 0)
                {
                    table.Insert(slot, hash, leaseId, entry);
                }
                else
                {
                    table.Add(leaseId, entry);
                }

                model.Add(leaseId, entry);
                Assert.Throws<ArgumentException>(() => AddAgain(table, leaseId));
            }
            else if (model.Count > 0)
            {
                var leaseId = model.Keys.ElementAt(random.Next(model.Count));
                var slot = table.Find(leaseId, out _);
                Assert.True(slot >= 0, leaseId);
                Assert.Equal(model[leaseId], table.RemoveAt(slot));
                model.Remove(leaseId);
                Assert.False(table.TryGetValue(leaseId, out _));
            }

            if (step % 40 == 0 || model.Count < 10)
            {
                AssertSame(model, table);
            }
        }

        AssertSame(model, table);
    }

    [Fact]
    public void Removal_ShiftsTheRestOfARunThatWrapsAcrossTheEnd_BackIntoPlace()
    {
        // Capacity 8: three holds whose home is slot 7 fill 7, 0 and 1; one of home 0 comes after
        // them at 2, and one of home 6 sits at 6. Taking out the first of slot 7 must pull the
        // other two back across the end and the one of home 0 back to slot 1.
        var table = new HoldTable<NamedHash>();
        var model = new Dictionary<string, HoldEntry>(StringComparer.Ordinal);
        for (var i = 0; i < 4; i++)
        {
            table.Add($"3/filler-{i}", new HoldEntry(Accounts[0], 0, 0, 100)); // grows the array to 8 slots
        }

        for (var i = 0; i < 4; i++)
        {
            table.RemoveAt(table.Find($"3/filler-{i}", out _));
        }

        foreach (var (leaseId, i) in new[] { "7/a", "7/b", "7/c", "0/d", "6/e" }.Select((id, i) => (id, i)))
        {
            var entry = new HoldEntry(Accounts[0], i + 1, 0, 100);
            table.Add(leaseId, entry);
            model.Add(leaseId, entry);
        }

        Assert.Equal(8, table.Capacity);
        Assert.Equal([7, 0, 1, 2, 6], new[] { "7/a", "7/b", "7/c", "0/d", "6/e" }.Select(id => table.Find(id, out _)));

        table.RemoveAt(table.Find("7/a", out _));
        model.Remove("7/a");

        Assert.Equal([7, 0, 1, 6], new[] { "7/b", "7/c", "0/d", "6/e" }.Select(id => table.Find(id, out _)));
        AssertSame(model, table);
        Assert.Equal(~2, table.Find("7/z", out _)); // a new hold of home 7 would go to the first empty slot
    }

    [Theory]
    [InlineData(Homes.OneRun)]
    [InlineData(Homes.AcrossTheEnd)]
    [InlineData(Homes.FewHomes)]
    [InlineData(Homes.Spread)]
    public void RemoveExpired_WithHundredsOfHolds_RemovesExactlyThoseExpiredByNow(Homes homes)
    {
        // 500 holds expiring between 1 and 200 (many at the same time), some removed by hand and
        // some added (or added again under a removed id) as time runs: each prune removes exactly
        // the expired ones, including those a removal shifts into a slot the walk has just looked at.
        var random = new Random((int)homes + 100);
        var table = new HoldTable<NamedHash>();
        var model = new Dictionary<string, HoldEntry>(StringComparer.Ordinal);
        var ids = new List<string>();
        for (var i = 0; i < 500; i++)
        {
            var leaseId = $"{HashFor(homes, random)}/{i}";
            var entry = new HoldEntry(Accounts[i % 2], i, 0, random.Next(1, 201));
            table.Add(leaseId, entry);
            model.Add(leaseId, entry);
            ids.Add(leaseId);
        }

        Assert.Equal(1024, table.Capacity);
        var removed = new List<HoldEntry>();
        var collected = new Collected(removed);
        for (long now = 0; now <= 230; now++)
        {
            removed.Clear();
            var expected = model.Where(h => h.Value.ExpiresAt <= now).ToList();
            expected.ForEach(h => model.Remove(h.Key));

            Assert.Equal(expected.Count, table.RemoveExpired(now, ref collected));
            Assert.Equal(expected.Select(h => h.Value).OrderBy(h => h.FlopUnits), removed.OrderBy(h => h.FlopUnits));
            Assert.Equal(0, table.RemoveExpired(now, ref collected));
            AssertSame(model, table);

            if (now % 3 == 0 && now <= 200 && model.Count > 0)
            {
                var leaseId = model.Keys.ElementAt(random.Next(model.Count));
                table.RemoveAt(table.Find(leaseId, out _));
                model.Remove(leaseId);
                // Held again later; an earlier expiry than any other is pruned at its time.
                var entry = new HoldEntry(Accounts[0], 1000 + now, 0, now + random.Next(1, 20));
                table.Add(leaseId, entry);
                model.Add(leaseId, entry);
            }
        }

        // Nothing is left, and the walks gave the table a small array again.
        AssertSame(model, table);
        Assert.Equal(0, table.Count);
        Assert.True(table.Capacity < HoldTable<NamedHash>.ShrinkFrom, $"capacity {table.Capacity}");
    }

    [Fact]
    public void APreparedTable_IsEmpty_AndFindsAndInsertsLikeAnyOther()
    {
        var table = new HoldTable<RandomizedLeaseHasher>();
        table.Prepare();
        Assert.Equal((0, HoldTable<RandomizedLeaseHasher>.MinCapacity), (table.Count, table.Capacity));
        var collected = new Collected([]);
        Assert.Equal(0, table.RemoveExpired(long.MaxValue - 1, ref collected));

        // Find, then Insert where it pointed: the handle path's order (the table was prepared before).
        var model = new Dictionary<string, HoldEntry>(StringComparer.Ordinal);
        for (var i = 0; i < 10; i++)
        {
            var notFound = table.Find($"job-{i}", out var hash);
            Assert.True(notFound < 0);
            var entry = new HoldEntry(Accounts[i % 2], i, i, 100 + i);
            table.Insert(notFound, hash, $"job-{i}", entry);
            model.Add($"job-{i}", entry);
        }

        table.Prepare(); // a second time changes nothing
        AssertSame(model, table);
    }

    [Fact]
    public void ATableOfTheStoresHash_GrowsAndShrinks_AndFindsEveryHold()
    {
        var table = new HoldTable<RandomizedLeaseHasher>();
        var model = new Dictionary<string, HoldEntry>(StringComparer.Ordinal);
        Assert.Equal(0, table.Capacity);
        for (var i = 0; i < 1000; i++)
        {
            var entry = new HoldEntry(Accounts[0], i, i, i < 990 ? 10 : 20);
            table.Add($"job-{i}", entry);
            model.Add($"job-{i}", entry);
            Assert.True(table.Count * 4 <= table.Capacity * 3);
        }

        AssertSame(model, table);
        var collected = new Collected([]);
        Assert.Equal(990, table.RemoveExpired(10, ref collected));
        foreach (var key in model.Keys.Where(k => model[k].ExpiresAt <= 10).ToList())
        {
            model.Remove(key);
        }

        AssertSame(model, table);
        Assert.Equal(HoldTable<RandomizedLeaseHasher>.MinCapacity * 4, table.Capacity);
        table.Clear();
        Assert.Equal((0, 0), (table.Count, table.Capacity));
        Assert.False(table.TryGetValue("job-995", out _));
    }

    private static void AddAgain(HoldTable<NamedHash> table, string leaseId) =>
        table.Add(leaseId, new HoldEntry(Accounts[0], 1, 1, 1));

    private static void AssertSame<THasher>(Dictionary<string, HoldEntry> model, HoldTable<THasher> table)
        where THasher : struct, ILeaseHasher
    {
        Assert.Equal(model.Count, table.Count);
        Assert.True(model.Count == 0 || table.Count * 4 <= table.Capacity * 3);
        Assert.True(table.Capacity == 0 || (table.Capacity & (table.Capacity - 1)) == 0);
        foreach (var (leaseId, entry) in model)
        {
            Assert.True(table.TryGetValue(leaseId, out var found), leaseId);
            Assert.Equal(entry, found);
        }

        Assert.Equal(model.OrderBy(h => h.Key, StringComparer.Ordinal), table.ToList().OrderBy(h => h.Key, StringComparer.Ordinal));
    }
}
