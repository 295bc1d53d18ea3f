using Oversight.Policy.Accelerators;
using Oversight.Policy.Admission;
using Oversight.Policy.Counters;
using Oversight.Policy.Decisions;
using Oversight.Policy.Documents;
using Xunit;

namespace Oversight.Policy.Tests;

/// <summary>The shared entry point over the in-memory store (the Redis store passes the same store suite).</summary>
public sealed class AdmissionEngineTests
{
    private const long Now = 1_800_000_000;
    private static readonly EffectivePolicy Policy = DefaultPolicy.Document.Resolve(null);
    private readonly InMemoryCounterStore _store = new();
    private readonly AdmissionEngine _engine;

    public AdmissionEngineTests() => _engine = new AdmissionEngine(_store, new FlopEstimator(AcceleratorCatalogue.Default));

    private static LeaseRequest H100Hours(string lease, long hours, bool checkOnly = false) =>
        new(lease, "H100-SXM", 1, hours * 3600, PrecisionClass.Bf16, null, checkOnly);

    private async Task<AccountRef> NewAccountAsync(string id = "acct-1", string? root = null)
    {
        var account = new AccountRef("m1", id, root ?? id);
        if (await _store.GetEpochAsync(account.Tag) is null)
        {
            await _store.InitializeTagAsync(account.Tag, "e1");
        }

        return account;
    }

    [Fact]
    public async Task Authorize_WithinAnonymousBudget_ReservesTheEstimatedAmount()
    {
        var account = await NewAccountAsync();

        var outcome = await _engine.AuthorizeAsync(Policy, account, new AccountStanding(0), H100Hours("lease-1", 1), Now);

        Assert.Equal(AdmissionStatus.Reserved, outcome.Status);
        Assert.Equal(Verdict.Allow, outcome.Decision!.Verdict);
        Assert.Equal(1_424_160, outcome.Requested.FlopUnits); // 989 TFLOP/s x 3600 s x 0.4
        Assert.Equal(3600, outcome.Requested.GpuSeconds);
        Assert.Equal(1_424_160, outcome.Hold!.FlopUnits);
        Assert.Equal(Now + Policy.Document.HoldTtlSeconds, outcome.Hold.ExpiresAt);
    }

    [Fact]
    public async Task Authorize_SameLeaseTwice_ReturnsTheSameReservationAndHoldsOnce()
    {
        var account = await NewAccountAsync();
        var first = await _engine.AuthorizeAsync(Policy, account, new AccountStanding(0), H100Hours("lease-1", 2), Now);

        var second = await _engine.AuthorizeAsync(Policy, account, new AccountStanding(0), H100Hours("lease-1", 2), Now + 10);

        Assert.Equal(AdmissionStatus.Replayed, second.Status);
        Assert.Equal(first.Hold, second.Hold);
        var held = second.Decision!.CurrentTierWindows.First(w => w.WindowId == "24h" && w.Metric == Metric.FlopUnits).Held;
        Assert.Equal(first.Hold!.FlopUnits, held);
    }

    [Fact]
    public async Task Authorize_SameLeaseAfterOtherUsageFilledTheWindow_StillAnswersWithItsReservation()
    {
        var account = await NewAccountAsync();
        var first = await _engine.AuthorizeAsync(Policy, account, new AccountStanding(0), H100Hours("lease-1", 2), Now);
        await _engine.SettleAsync(Policy, account, new UsageRecord("att-other", null, 19_000_000, 3600, Now, Final: true), Now, 30 * 86400);

        var again = await _engine.AuthorizeAsync(Policy, account, new AccountStanding(0), H100Hours("lease-1", 2), Now + 10);

        Assert.Equal(AdmissionStatus.Replayed, again.Status);
        Assert.Equal(Verdict.AllowNearLimit, again.Decision!.Verdict);
        Assert.Equal(first.Hold, again.Hold);
    }

    [Fact]
    public async Task Authorize_WhenAnonymousBudgetWouldBeExceeded_RequiresStatedPurposeAndHoldsNothing()
    {
        var account = await NewAccountAsync();

        var outcome = await _engine.AuthorizeAsync(Policy, account, new AccountStanding(0), H100Hours("lease-big", 15), Now);

        Assert.Equal(AdmissionStatus.NotReserved, outcome.Status);
        Assert.Equal(Verdict.RequireStatedPurpose, outcome.Decision!.Verdict);
        Assert.Equal("24h", outcome.Decision.DecidingWindow!.WindowId);
        Assert.Equal(20_000_000, outcome.Decision.DecidingWindow.Limit);
        Assert.Null(outcome.Hold);
        var after = await _engine.ReadAsync(Policy, account, new AccountStanding(0), Now);
        Assert.All(after.Snapshot.Readings, r => Assert.Equal(0, r.Held));
    }

    [Fact]
    public async Task Authorize_CheckOnly_DecidesWithoutHolding()
    {
        var account = await NewAccountAsync();

        var outcome = await _engine.AuthorizeAsync(Policy, account, new AccountStanding(0), H100Hours("lease-1", 1, checkOnly: true), Now);

        Assert.Equal(AdmissionStatus.Checked, outcome.Status);
        Assert.Null(outcome.Hold);
        var again = await _engine.AuthorizeAsync(Policy, account, new AccountStanding(0), H100Hours("lease-1", 1), Now);
        Assert.Equal(AdmissionStatus.Reserved, again.Status);
    }

    [Fact]
    public async Task Authorize_WhenSuspended_DeniesAndHoldsNothing()
    {
        var account = await NewAccountAsync();

        var outcome = await _engine.AuthorizeAsync(Policy, account, new AccountStanding(0, Suspended: true), H100Hours("lease-1", 1), Now);

        Assert.Equal(Verdict.Deny, outcome.Decision!.Verdict);
        Assert.Equal(AdmissionStatus.NotReserved, outcome.Status);
        Assert.Null(outcome.Hold);
    }

    [Fact]
    public async Task Authorize_WhenTheTagLostItsCounters_ReportsEpochMissingInsteadOfDeciding()
    {
        var account = new AccountRef("m1", "never-initialised", "never-initialised");

        var outcome = await _engine.AuthorizeAsync(Policy, account, new AccountStanding(0), H100Hours("lease-1", 1), Now);

        Assert.Equal(AdmissionStatus.EpochMissing, outcome.Status);
        Assert.Null(outcome.Decision);
    }

    [Fact]
    public async Task Settle_CountsOnce_ReleasesTheHoldOnFinal_AndTheBudgetThenAsksForAPurpose()
    {
        var account = await NewAccountAsync();
        var lease = await _engine.AuthorizeAsync(Policy, account, new AccountStanding(0), H100Hours("lease-1", 14), Now);
        Assert.Equal(AdmissionStatus.Reserved, lease.Status);
        var usage = new UsageRecord("att-1", "lease-1", lease.Requested.FlopUnits, lease.Requested.GpuSeconds, Now + 14 * 3600, Final: true);

        var first = await _engine.SettleAsync(Policy, account, usage, Now + 14 * 3600, 30 * 86400);
        var again = await _engine.SettleAsync(Policy, account, usage, Now + 14 * 3600, 30 * 86400);

        Assert.Equal(SettleStatus.Applied, first.Status);
        Assert.Equal(SettleStatus.Duplicate, again.Status);
        var read = await _engine.ReadAsync(Policy, account, new AccountStanding(0), Now + 14 * 3600);
        var day = read.Snapshot.Get(account.AccountId, "24h", Metric.FlopUnits);
        Assert.Equal(lease.Requested.FlopUnits, day.Usage);
        Assert.Equal(0, day.Held);

        var next = await _engine.AuthorizeAsync(Policy, account, new AccountStanding(0), H100Hours("lease-2", 1), Now + 14 * 3600);
        Assert.Equal(Verdict.RequireStatedPurpose, next.Decision!.Verdict);

        var stepped = await _engine.AuthorizeAsync(Policy, account, new AccountStanding(1), H100Hours("lease-2", 1), Now + 14 * 3600);
        Assert.Equal(AdmissionStatus.Reserved, stepped.Status);
    }

    [Fact]
    public async Task Authorize_LinkedAccounts_ShareTheAnonymousBudgetOfTheirCluster()
    {
        var root = await NewAccountAsync("acct-a");
        var linked = await NewAccountAsync("acct-b", root: "acct-a");
        var usage = new UsageRecord("att-a", null, 19_000_000, 3600, Now, Final: true);
        await _engine.SettleAsync(Policy, root, usage, Now, 30 * 86400);

        var outcome = await _engine.AuthorizeAsync(Policy, linked, new AccountStanding(0, Linked: true), H100Hours("lease-b", 1), Now);

        Assert.Equal(Verdict.RequireStatedPurpose, outcome.Decision!.Verdict);
        Assert.True(outcome.Decision.DecidingWindow!.SharedByCluster);
    }
}
