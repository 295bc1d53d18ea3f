using Oversight.Policy.Accelerators;
using Oversight.Policy.Admission;
using Oversight.Policy.Counters;
using Oversight.Policy.Decisions;
using Oversight.Policy.Documents;
using Xunit;

namespace Oversight.Policy.Tests;

/// <summary>
/// The replay's allocation-free path (<see cref="AdmissionEngine.Authorize"/> and
/// <see cref="AdmissionEngine.Settle"/> on <see cref="CounterHandle"/>s) must decide exactly as the
/// enforcement path (<see cref="AdmissionEngine.AuthorizeAsync"/> and <see cref="AdmissionEngine.SettleAsync"/>
/// on store commands). Both run a long seeded sequence of requests and attestations side by side,
/// each on its own store, and every answer and every counter must agree.
/// </summary>
public sealed class AllocationFreeAdmissionTests
{
    private const string Marketplace = "m1";
    private static readonly EffectivePolicy Policy = DefaultPolicy.Document.Resolve(null);
    private static readonly string[] Models = ["H100-SXM", "A100", "MI300X"];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task ASeededSequence_GetsTheSameAnswersAndCounters_OnBothPaths(int seed)
    {
        var random = new Random(seed);
        var estimator = new FlopEstimator(AcceleratorCatalogue.Default);
        var commandStore = new InMemoryCounterStore();
        var handleStore = new InMemoryCounterStore();
        var commands = new AdmissionEngine(commandStore, estimator);
        var handles = new AdmissionEngine(handleStore, estimator);

        // Six accounts; acct-4 and acct-5 are linked into acct-0's cluster, so one tag holds three
        // accounts and its cluster counters start as the root's own and become a sum later.
        var accounts = Enumerable.Range(0, 6)
            .Select(i => new AccountRef(Marketplace, $"acct-{i}", i >= 4 ? "acct-0" : $"acct-{i}"))
            .ToArray();
        foreach (var account in accounts.Where(a => !a.Linked))
        {
            await commandStore.InitializeTagAsync(account.Tag, "e1");
            handleStore.InitializeTag(account.Tag, "e1");
        }

        var handleOf = accounts.ToDictionary(a => a.AccountId, a => handleStore.Handle(a.Tag, a.AccountId));
        var leases = new List<(AccountRef Account, LeaseRequest Lease)>();
        var verdicts = new HashSet<Verdict>();
        var statuses = new HashSet<AdmissionStatus>();
        long now = 1_800_000_000;
        var attestations = 0;

        for (var step = 0; step < 4000; step++)
        {
            now += random.Next(0, 2400);
            // Accounts join one after another, so the linked ones count in a cluster that already has usage.
            var account = accounts[random.Next(Math.Min(accounts.Length, 2 + (step / 300)))];
            var roll = random.NextDouble();
            if (roll < 0.55 || leases.Count == 0)
            {
                var lease = roll < 0.1 && leases.Count > 0
                    ? leases[random.Next(leases.Count)].Lease // the same lease again: replayed while it holds
                    : new LeaseRequest(
                        $"lease-{step}", Models[random.Next(Models.Length)], 1 << random.Next(0, 10), random.Next(60, 30_000),
                        PrecisionClass.Bf16, random.NextDouble() < 0.1 ? random.NextInt64(1, 3_000_000_000) : null, CheckOnly: random.NextDouble() < 0.1);
                var standing = new AccountStanding(random.Next(0, Policy.Ladder.Count), Suspended: random.NextDouble() < 0.03);
                var expected = await commands.AuthorizeAsync(Policy, account, standing, lease, now);
                var actual = handles.Authorize(Policy, handleOf[account.AccountId], standing, lease, now);

                Assert.Equal(expected.Status, actual.Status);
                statuses.Add(actual.Status);
                if (actual.Status == AdmissionStatus.OtherTerms)
                {
                    continue; // a lease of one account sent again by another account of its cluster: nothing decided
                }

                Assert.Equal(expected.Decision!.Verdict, actual.Verdict);
                Assert.Equal(expected.Decision.RequiredTierLevel, actual.RequiredTierLevel);
                Assert.Equal(expected.Requested, actual.Requested);
                verdicts.Add(actual.Verdict);
                if (actual.Status == AdmissionStatus.Reserved)
                {
                    leases.Add((account, lease));
                }
            }
            else
            {
                var (owner, lease) = leases[random.Next(leases.Count)];
                var leaseId = random.NextDouble() < 0.1 ? null : lease.LeaseId; // usage without a lease
                var final = random.NextDouble() < 0.5;
                var usage = new UsageRecord($"att-{attestations++}", leaseId, random.Next(0, 20_000_000), random.Next(0, 100_000), now - random.Next(0, 7200), final);
                var expected = await commands.SettleAsync(Policy, owner, usage, now, markRetentionSeconds: null);
                var actual = handles.Settle(Policy, handleOf[owner.AccountId], usage.LeaseId, usage.FlopUnits, usage.GpuSeconds, usage.IntervalEndUnixSeconds, usage.Final, now);

                Assert.Equal(expected.Status, actual);
            }

            if (step % 97 == 0)
            {
                foreach (var each in accounts)
                {
                    Assert.Equal(await ReadingsAsync(commandStore, each, now), await ReadingsAsync(handleStore, each, now));
                }
            }
        }

        // The sequence reached every verdict and outcome it is meant to compare.
        Assert.Superset(new HashSet<Verdict> { Verdict.Allow, Verdict.AllowNearLimit, Verdict.RequireStatedPurpose, Verdict.RequireIdentity, Verdict.Deny }, verdicts);
        Assert.Superset(new HashSet<AdmissionStatus> { AdmissionStatus.Reserved, AdmissionStatus.Replayed, AdmissionStatus.Checked, AdmissionStatus.NotReserved, AdmissionStatus.OtherTerms }, statuses);
    }

    [Fact]
    public void AHandle_FromAnotherStore_IsRefused()
    {
        var engine = new AdmissionEngine(new InMemoryCounterStore(), new FlopEstimator(AcceleratorCatalogue.Default));
        var other = new InMemoryCounterStore();
        other.InitializeTag("m1:acct-1", "e1");

        Assert.Throws<ArgumentException>(() => engine.Authorize(
            Policy, other.Handle("m1:acct-1", "acct-1"), new AccountStanding(0), new LeaseRequest("l", "H100-SXM", 1, 60, PrecisionClass.Bf16, null, false), 1_800_000_000));
    }

    [Fact]
    public void ATagWithoutEpoch_IsEpochMissing_AndHoldsNothing()
    {
        var store = new InMemoryCounterStore();
        var engine = new AdmissionEngine(store, new FlopEstimator(AcceleratorCatalogue.Default));
        var handle = store.Handle("m1:acct-1", "acct-1");

        var outcome = engine.Authorize(Policy, handle, new AccountStanding(0), new LeaseRequest("l", "H100-SXM", 1, 60, PrecisionClass.Bf16, null, false), 1_800_000_000);

        Assert.Equal(AdmissionStatus.EpochMissing, outcome.Status);
        store.InitializeTag("m1:acct-1", "e1");
        Assert.Equal(0, store.Read("m1:acct-1", 1_800_000_000, Policy.CounterWindows, ["acct-1"]).Snapshot.Readings.Sum(r => r.Held));
    }

    [Fact]
    public void ALimitThatDoesNotFitTheLayout_IsRefused_AndLeavesNoHoldBehind()
    {
        var store = new InMemoryCounterStore();
        store.InitializeTag("m1:acct-1", "e1");
        var handle = store.Handle("m1:acct-1", "acct-1");
        var figures = new UsageFigures[Policy.Layout.FigureCount];
        LayoutLimit[] bad = [new(SubjectKind.Own, Policy.CounterWindows.Count, Metric.FlopUnits, 10)];

        Assert.Throws<ArgumentException>(() => store.Reserve(handle, Policy.Layout, 1_800_000_000, bad, "lease-1", 1, 1, 1_800_000_100, false, figures));

        var status = store.Reserve(handle, Policy.Layout, 1_800_000_000, Policy.LayoutLimitsFor(0), "lease-1", 1, 1, 1_800_000_100, false, figures);
        Assert.Equal(ReserveStatus.Admitted, status);
    }

    [Fact]
    public async Task ASettle_ByAnotherAccountOfTheTag_CountsForIt_AndLeavesTheHoldersHold()
    {
        // The replay settles on the handle of the account an attestation names: only that account's hold shrinks or goes.
        const string tag = "m1:acct-0";
        const long now = 1_800_000_000;
        var store = new InMemoryCounterStore();
        store.InitializeTag(tag, "e1");
        var (holder, linked) = (store.Handle(tag, "acct-0"), store.Handle(tag, "acct-4"));
        var figures = new UsageFigures[Policy.Layout.FigureCount];
        Assert.Equal(ReserveStatus.Admitted, store.Reserve(holder, Policy.Layout, now, [], "lease-1", 100, 50, now + 3600, false, figures));

        Assert.Equal(SettleStatus.Applied, store.Settle(linked, Policy.Layout, now, "lease-1", 30, 20, now, final: false));
        Assert.Equal(SettleStatus.Applied, store.Settle(linked, Policy.Layout, now, "lease-1", 5, 0, now, final: true));

        Assert.Equal(new CounterHold("lease-1", "acct-0", 100, 50, now + 3600), Assert.Single(await store.ReadHoldsAsync(tag, now)));
        Assert.All(store.Read(tag, now, Policy.CounterWindows, ["acct-4"]).Snapshot.Readings.Where(r => r.Metric == Metric.FlopUnits), r => Assert.Equal(35, r.Usage));

        store.Settle(holder, Policy.Layout, now, "lease-1", 40, 10, now, final: false);
        Assert.Equal(new CounterHold("lease-1", "acct-0", 60, 40, now + 3600), Assert.Single(await store.ReadHoldsAsync(tag, now)));
        store.Settle(holder, Policy.Layout, now, "lease-1", 1, 0, now, final: true);
        Assert.Empty(await store.ReadHoldsAsync(tag, now));
    }

    [Fact]
    public void TheHandlePath_AllocatesNothing_OnceItsTagHasGrown_WithHundredsOfHoldsComingAndGoing()
    {
        // Each round holds 200 leases, settles half of them (in part, then in full) and lets the
        // rest expire; after the first rounds, a round allocates nothing.
        const string tag = "m1:acct-0";
        var store = new InMemoryCounterStore();
        store.InitializeTag(tag, "e1");
        var handle = store.Handle(tag, "acct-0");
        var figures = new UsageFigures[Policy.Layout.FigureCount];
        var leaseIds = Enumerable.Range(0, 200).Select(i => $"lease-{i}").ToArray();
        long now = 1_800_000_000;
        var (admitted, applied) = (0, 0); // counted, not asserted, inside: an assertion allocates

        void Round()
        {
            for (var i = 0; i < leaseIds.Length; i++)
            {
                admitted += store.Reserve(handle, Policy.Layout, now++, Policy.LayoutLimitsFor(Policy.Ladder.Count - 1), leaseIds[i], 100, 1, now + 300 + i, false, figures) == ReserveStatus.Admitted ? 1 : 0;
            }

            for (var i = 0; i < leaseIds.Length; i += 2)
            {
                applied += store.Settle(handle, Policy.Layout, now, leaseIds[i], 40, 1, now, final: false) == SettleStatus.Applied ? 1 : 0;
                applied += store.Settle(handle, Policy.Layout, now++, leaseIds[i], 60, 0, now, final: true) == SettleStatus.Applied ? 1 : 0;
            }

            now += 1000; // the other half expire before the next round's first hold
        }

        for (var round = 0; round < 100; round++)
        {
            Round();
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var round = 0; round < 20; round++)
        {
            Round();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal((120 * 200, 120 * 200), (admitted, applied));
        Assert.Equal(100, store.Read(tag, now, Policy.CounterWindows, ["acct-0"]).ExpiredHoldsPruned);
    }

    private static async Task<IReadOnlyList<CounterReading>> ReadingsAsync(InMemoryCounterStore store, AccountRef account, long now) =>
        (await store.ReadAsync(account.Tag, now, Policy.CounterWindows, [account.AccountId, CounterSubject.Cluster])).Snapshot.Readings;
}
