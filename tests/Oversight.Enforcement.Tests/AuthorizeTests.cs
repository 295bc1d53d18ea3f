using Grpc.Core;
using Oversight.Common.V1;
using Oversight.Enforcement.Tests.Infrastructure;
using Oversight.Enforcement.V1;

namespace Oversight.Enforcement.Tests;

/// <summary>
/// Authorize and ReleaseReservation (issue 6, items 3 and 11) with the default policy: the
/// anonymous tier holds 20,000,000 FLOP units a day, ALLOW_NEAR_LIMIT past 80%.
/// </summary>
public sealed class AuthorizeTests : IAsyncLifetime
{
    private const long DayLimit = 20_000_000;
    private EnforcementDeployment _deployment = null!;

    public async Task InitializeAsync() => _deployment = await SharedDeployment.GetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Authorize_CheckOnly_AnswersTheVerdictButReservesNothing()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        var before = await Stores.MarketplaceStateAsync(_deployment, market.Id);

        var checkedOnly = await market.AuthorizeAsync(market.Request(account, 1_000_000, checkOnly: true));

        Assert.Equal(Verdict.Allow, checkedOnly.Verdict);
        Assert.Null(checkedOnly.Reservation);
        Assert.Equal(1_000_000, checkedOnly.RequestedFlopUnits);
        Assert.Equal(0, TestMarketplace.Window(await market.UsageAsync(account), "24h").Held);
        Assert.Equal(before, await Stores.MarketplaceStateAsync(_deployment, market.Id));
    }

    [Fact]
    public async Task Authorize_AnswersTheWindowsAsTheyStandAfterIt_WithItsOwnReservationHeld()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();

        var first = await market.AuthorizeAsync(market.Request(account, 3_000_000));
        var day = TestMarketplace.Window(await market.UsageAsync(account), "24h");
        var answered = first.Windows.Single(w => w.Window == "24h" && w.Metric == Oversight.Common.V1.Metric.FlopUnits);
        Assert.Equal((3_000_000L, 17_000_000L), (answered.Held, answered.Remaining));
        Assert.Equal((day.Usage, day.Held, day.Remaining), (answered.Usage, answered.Held, answered.Remaining));

        // Refused (it would not fit the anonymous 20,000,000): nothing reserved, nothing added.
        var refused = await market.AuthorizeAsync(market.Request(account, 18_000_000));
        Assert.Null(refused.Reservation);
        Assert.Equal(3_000_000, refused.Windows.Single(w => w.Window == "24h" && w.Metric == Oversight.Common.V1.Metric.FlopUnits).Held);
        Assert.Equal(3_000_000, refused.DecidingWindow.Held);
    }

    [Fact]
    public async Task ReleaseReservation_FreesTheHold_AndAnswersFalseTheSecondTime()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        var request = market.Request(account, 3_000_000);
        var allowed = await market.AuthorizeAsync(request);
        Assert.Equal(Verdict.Allow, allowed.Verdict);
        Assert.Equal(request.LeaseId, allowed.Reservation.ReservationId);
        Assert.Equal(3_000_000, TestMarketplace.Window(await market.UsageAsync(account), "24h").Held);

        var release = new ReleaseReservationRequest { MarketplaceId = market.Id, AccountId = account, LeaseId = request.LeaseId };
        Assert.True((await _deployment.EnforcementClient().ReleaseReservationAsync(release, market.Operator)).Released);
        Assert.Equal(0, TestMarketplace.Window(await market.UsageAsync(account), "24h").Held);
        Assert.False((await _deployment.EnforcementClient().ReleaseReservationAsync(release, market.Operator)).Released);

        // An unknown lease has no hold either.
        release.LeaseId = "never-authorized";
        Assert.False((await _deployment.EnforcementClient().ReleaseReservationAsync(release, market.Operator)).Released);
    }

    [Fact]
    public async Task ReleaseReservation_ByALinkedAccount_LeavesTheHold_AndByItsHolderReleasesIt()
    {
        var market = _deployment.NewMarketplace();
        var holder = await market.CreateKnownAccountAsync();
        var linked = await market.CreateKnownAccountAsync();
        var request = market.Request(holder, 3_000_000);
        Assert.Equal(Verdict.Allow, (await market.AuthorizeAsync(request)).Verdict);
        await market.LinkAsync(holder, linked);
        Assert.Equal(3_000_000, TestMarketplace.Window(await market.UsageAsync(linked), "24h").Held);

        // The linked account shares the cluster's budget, not the holder's leases.
        var byLinked = await _deployment.EnforcementClient().ReleaseReservationAsync(
            new ReleaseReservationRequest { MarketplaceId = market.Id, AccountId = linked, LeaseId = request.LeaseId }, market.Operator);

        Assert.False(byLinked.Released);
        Assert.Equal(3_000_000, TestMarketplace.Window(await market.UsageAsync(holder), "24h").Held);

        var byHolder = await _deployment.EnforcementClient().ReleaseReservationAsync(
            new ReleaseReservationRequest { MarketplaceId = market.Id, AccountId = holder, LeaseId = request.LeaseId }, market.Operator);

        Assert.True(byHolder.Released);
        Assert.Equal(0, TestMarketplace.Window(await market.UsageAsync(linked), "24h").Held);
    }

    [Fact]
    public async Task Authorize_TheSameLeaseTwice_ReturnsTheSameReservation()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        var request = market.Request(account, 2_000_000);

        var first = await market.AuthorizeAsync(request);
        var again = await market.AuthorizeAsync(request);

        Assert.False(first.Replayed);
        Assert.True(again.Replayed);
        Assert.Equal(first.Reservation, again.Reservation);
        Assert.Equal(2_000_000, TestMarketplace.Window(await market.UsageAsync(account), "24h").Held);
    }

    [Fact]
    public async Task Authorize_TheSameLeaseIdForOtherTerms_IsAlreadyExists_AndChangesNothing()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        var request = market.Request(account, 2_000_000, leaseId: "lease-terms");
        var first = await market.AuthorizeAsync(request);

        // A bigger lease under the same id must not ride on the first one's reservation.
        var bigger = request.Clone();
        bigger.AcceleratorCount = 8;
        bigger.FlopUnits = 16_000_000;
        var refused = await RpcAssert.FailsAsync(StatusCode.AlreadyExists, () => _deployment.EnforcementClient().AuthorizeAsync(bigger, market.Operator));
        var otherModel = request.Clone();
        otherModel.AcceleratorModel = "A100";
        await RpcAssert.FailsAsync(StatusCode.AlreadyExists, () => _deployment.EnforcementClient().AuthorizeAsync(otherModel, market.Operator));
        // The same terms, the model written as the catalogue also reads it, is a repeat.
        var repeat = request.Clone();
        repeat.AcceleratorModel = request.AcceleratorModel.ToLowerInvariant();
        var again = await market.AuthorizeAsync(repeat);

        Assert.Contains("lease_id 'lease-terms' already holds a reservation made for other terms", refused.Status.Detail, StringComparison.Ordinal);
        Assert.True(again.Replayed);
        Assert.Equal(first.Reservation, again.Reservation);
        Assert.Equal(2_000_000, TestMarketplace.Window(await market.UsageAsync(account), "24h").Held);
    }

    [Fact]
    public async Task Authorize_ForMoreThanRemains_RefusesAndReservesNothing()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        Assert.Equal(Verdict.Allow, (await market.AuthorizeAsync(market.Request(account, 15_000_000))).Verdict);
        var keys = await Stores.TagKeysAsync(_deployment.EnforcementRedis, market.Id, account);
        var redisBefore = await Redis(market);

        var refused = await market.AuthorizeAsync(market.Request(account, 6_000_000));

        Assert.Equal(Verdict.RequireStatedPurpose, refused.Verdict);
        Assert.Null(refused.Reservation);
        Assert.Equal("stated_purpose", refused.RequiredTier.Id);
        var day = refused.DecidingWindow;
        Assert.Equal(("24h", Metric.FlopUnits, 0L, 15_000_000L, DayLimit, 5_000_000L), (day.Window, day.Metric, day.Usage, day.Held, day.Limit, day.Remaining));
        Assert.Equal(redisBefore, await Redis(market));
        Assert.Equal(keys, await Stores.TagKeysAsync(_deployment.EnforcementRedis, market.Id, account));
        Assert.Equal(15_000_000, TestMarketplace.Window(await market.UsageAsync(account), "24h").Held);

        // What remains exactly still fits.
        Assert.Equal(Verdict.AllowNearLimit, (await market.AuthorizeAsync(market.Request(account, 5_000_000))).Verdict);
    }

    [Fact]
    public async Task Authorize_ForAnAccountNobodyKnows_IsNotFound_AndChangesNothing()
    {
        var market = _deployment.NewMarketplace();
        await market.CreateKnownAccountAsync();
        var before = await Stores.MarketplaceStateAsync(_deployment, market.Id);

        var e = await RpcAssert.FailsAsync(StatusCode.NotFound, () => _deployment.EnforcementClient().AuthorizeAsync(market.Request("acct-nobody", 1_000), market.Operator));

        Assert.Contains("account_id 'acct-nobody'", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains($"marketplace_id '{market.Id}'", e.Status.Detail, StringComparison.Ordinal);
        await RpcAssert.FailsAsync(StatusCode.NotFound, () => _deployment.EnforcementClient().GetUsageAsync(
            new GetUsageRequest { MarketplaceId = market.Id, AccountId = "acct-nobody" }, market.Operator));
        Assert.Equal(before, await Stores.MarketplaceStateAsync(_deployment, market.Id));
    }

    [Fact]
    public async Task Authorize_WithAnotherMarketplacesTokenOrAccount_IsRefused_AndChangesNothing()
    {
        var mine = _deployment.NewMarketplace();
        var theirs = _deployment.NewMarketplace();
        var myAccount = await mine.CreateKnownAccountAsync();
        var theirAccount = await theirs.CreateKnownAccountAsync();
        var before = await Stores.MarketplaceStateAsync(_deployment, theirs.Id);
        var client = _deployment.EnforcementClient();

        // My token, their marketplace: refused before anything is read.
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => client.AuthorizeAsync(theirs.Request(theirAccount, 1_000), mine.Operator));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => client.GetUsageAsync(new GetUsageRequest { MarketplaceId = theirs.Id, AccountId = theirAccount }, mine.Operator));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => client.ReleaseReservationAsync(
            new ReleaseReservationRequest { MarketplaceId = theirs.Id, AccountId = theirAccount, LeaseId = "l-1" }, mine.Operator));
        // My marketplace, their account: it does not exist here.
        await RpcAssert.FailsAsync(StatusCode.NotFound, () => client.AuthorizeAsync(mine.Request(theirAccount, 1_000), mine.Operator));
        // A provider may not authorize at all.
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => client.AuthorizeAsync(mine.Request(myAccount, 1_000), _deployment.Auth("provider", mine.Id, TestMarketplace.Provider)));
        // No token.
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => client.AuthorizeAsync(mine.Request(myAccount, 1_000)));

        Assert.Equal(before, await Stores.MarketplaceStateAsync(_deployment, theirs.Id));
    }

    [Fact]
    public async Task Authorize_WithBadAmountsOrAnUnknownAccelerator_IsInvalidArgumentNamingTheField_AndReservesNothing()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        await market.AuthorizeAsync(market.Request(account, 1_000));
        var before = await Stores.MarketplaceStateAsync(_deployment, market.Id);
        var cases = new (string Field, Action<AuthorizeRequest> Spoil)[]
        {
            ("accelerator_count", r => r.AcceleratorCount = 0),
            ("accelerator_count", r => r.AcceleratorCount = -3),
            ("accelerator_count", r => r.AcceleratorCount = 5_000_000),
            ("duration_seconds", r => r.DurationSeconds = 0),
            ("duration_seconds", r => r.DurationSeconds = -60),
            ("duration_seconds", r => r.DurationSeconds = 10L * 365 * 86400),
            ("flop_units", r => r.FlopUnits = 0),
            ("flop_units", r => r.FlopUnits = -1),
            ("flop_units", r => r.FlopUnits = long.MaxValue),
            ("accelerator_model", r => r.AcceleratorModel = "Z9000-imaginary"),
            ("accelerator_model", r => r.AcceleratorModel = ""),
            ("precision", r => r.Precision = (PrecisionClass)99),
            ("lease_id", r => r.LeaseId = "spaces are not allowed"),
            ("account_id", r => r.AccountId = ""),
            // The estimate of 100,000 H100s for a year is above anything a request may ask for.
            ("duration_seconds", r => { r.ClearFlopUnits(); r.AcceleratorCount = 100_000; r.DurationSeconds = 366L * 86400; }),
        };

        foreach (var (field, spoil) in cases)
        {
            var request = market.Request(account, 1_000);
            spoil(request);
            await RpcAssert.InvalidArgumentAsync(field, () => _deployment.EnforcementClient().AuthorizeAsync(request, market.Operator));
        }

        Assert.Equal(before, await Stores.MarketplaceStateAsync(_deployment, market.Id));
    }

    [Fact]
    public async Task EveryVerdict_NamesThePolicyVersion_AndTheDecidingWindowWithUsageHeldLimitAndRemaining()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        var version = (await _deployment.EnforcementClient().GetPolicyAsync(new GetPolicyRequest(), market.Operator)).Version;
        var expected = new (long Units, Verdict Verdict, string? RequiredTier)[]
        {
            (1_000_000, Verdict.Allow, null),
            (15_500_000, Verdict.AllowNearLimit, null),
            (10_000_000, Verdict.RequireStatedPurpose, "stated_purpose"),
            (3_000_000_000, Verdict.RequireIdentity, "identity_verified"),
            (50_000_000_000_000, Verdict.RequireOrganisation, "organisation_verified"),
            (200_000_000_000_000, Verdict.Deny, null),
        };

        foreach (var (units, verdict, required) in expected)
        {
            var response = await market.AuthorizeAsync(market.Request(account, units));
            Assert.Equal(verdict, response.Verdict);
            Assert.Equal(version, response.PolicyVersion);
            Assert.Equal("anonymous", response.CurrentTier.Id);
            Assert.Equal(required, response.RequiredTier?.Id);
            Assert.False(string.IsNullOrWhiteSpace(response.Message));
            Assert.Equal(units, response.RequestedFlopUnits);
            Assert.Equal(verdict is Verdict.Allow or Verdict.AllowNearLimit, response.Reservation is not null);

            var window = response.DecidingWindow;
            Assert.NotNull(window);
            Assert.Equal("anonymous", window.TierId);
            Assert.True(window.Limit > 0);
            Assert.Equal(Math.Max(0, window.Limit - window.Usage - window.Held), window.Remaining);
            // The deciding window is one of the tier's windows, reported with the same figures.
            Assert.Contains(window, response.Windows);
            if (verdict is not (Verdict.Allow or Verdict.AllowNearLimit))
            {
                Assert.True(window.Usage + window.Held + units > window.Limit, $"{window} does not explain {verdict}");
            }
        }

        // The two reservations: 1,000,000 + 15,500,000 held in the 24-hour window.
        var day = TestMarketplace.Window(await market.UsageAsync(account), "24h");
        Assert.Equal((0L, 16_500_000L, DayLimit, 3_500_000L), (day.Usage, day.Held, day.Limit, day.Remaining));
    }

    /// <summary>The marketplace's Redis keys and values (holds, counters, marks, epochs).</summary>
    private async Task<string> Redis(TestMarketplace market)
    {
        var state = await Stores.MarketplaceStateAsync(_deployment, market.Id);
        return string.Join('\n', state.Split('\n').Where(l => l.StartsWith("redis ", StringComparison.Ordinal)));
    }
}
