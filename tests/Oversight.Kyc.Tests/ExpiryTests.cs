using Google.Protobuf.WellKnownTypes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Common.V1;
using Oversight.Contracts;
using Oversight.Hosting.Auth;
using Oversight.Kyc.Accounts;
using Oversight.Kyc.V1;

namespace Oversight.Kyc.Tests;

/// <summary>A KYC host on the simulation clock (frozen until SetClock), with the expiry sweep every second.</summary>
public sealed class SimulatedClockKycFixture : KycHostFixture
{
    protected override Dictionary<string, string?> Settings()
    {
        var settings = base.Settings();
        settings["Oversight:Simulation:Enabled"] = "true";
        settings["Oversight:Kyc:Verification:ExpiryCheckSeconds"] = "1";
        return settings;
    }

    public SimulationClock.SimulationClockClient Clock => new(Host.Channel);

    public async Task<DateTimeOffset> NowAsync() =>
        (await Clock.GetClockAsync(new GetClockRequest(), Auth(Roles.Admin, null))).Now.ToDateTimeOffset();

    public async Task SetNowAsync(DateTimeOffset now) =>
        await Clock.SetClockAsync(new SetClockRequest { Now = Timestamp.FromDateTimeOffset(now) }, Auth(Roles.Admin, null));
}

/// <summary>Verifications expire (issue 4, item 1): the account steps down to the highest rung it still qualifies for.</summary>
public class ExpiryTests(SimulatedClockKycFixture fixture) : IClassFixture<SimulatedClockKycFixture>
{
    private KycTiering.KycTieringClient Client => fixture.Client;

    /// <summary>An approval that occurred so long ago that it has <paramref name="left"/> of its 365 days of validity left, by the simulation clock.</summary>
    private static DateTimeOffset OccurredWithLeft(DateTimeOffset now, TimeSpan left) => Results.Seconds(now).AddDays(-365).Add(left);

    [Fact]
    public async Task ExpiredIdentityVerification_StepsDownToStatedPurpose_WithReasonActorAndEvent()
    {
        var now = await fixture.NowAsync();
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "e");
        await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "e", Category = PurposeCategory.Education, Text = "course" }, op);
        await fixture.ApproveIdentityAsync(marketplace, op, "e", "E-1", OccurredWithLeft(now, TimeSpan.FromSeconds(30)), signedAt: now);
        var verified = await fixture.AccountAsync(marketplace, "e");
        Assert.Equal("identity_verified", verified.Tier.Id);
        Assert.Equal(Results.Seconds(now).AddSeconds(30), verified.TierExpiresAt.ToDateTimeOffset());

        // Not yet: a second before the end the sweep leaves it.
        await fixture.SetNowAsync(Results.Seconds(now).AddSeconds(29));
        Assert.Equal(0, await fixture.Host.Services.GetRequiredService<VerificationExpiryService>().SweepAsync(CancellationToken.None));
        await fixture.SetNowAsync(Results.Seconds(now).AddSeconds(31));
        await KycHostFixture.EventuallyAsync(async () => (await fixture.AccountAsync(marketplace, "e")).Tier.Id == "stated_purpose", "the sweep to step the account down");

        var account = await fixture.AccountAsync(marketplace, "e");
        var last = account.History.Last();
        Assert.Equal(("identity_verified", "stated_purpose", "verification expired", "system"), (last.From.Id, last.To.Id, last.Reason, last.Actor));
        Assert.Null(account.TierExpiresAt);
        var change = (await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "e")).Last();
        Assert.Equal((2, 1, "STATED_PURPOSE", "verification expired", "system"), (change.FromLevel, change.ToLevel, change.Requirement, change.Reason, change.Actor));
        Assert.Equal(account.Sequence, change.Sequence);
        await using var db = fixture.NewDbContext();
        Assert.Contains(await db.AuditEvents.AsNoTracking().Where(a => a.MarketplaceId == marketplace && a.Action == "tier.changed").Select(a => a.Reason).ToListAsync(),
            r => r == "identity_verified -> stated_purpose: verification expired");
    }

    [Fact]
    public async Task ExpiredOrganisationVerification_FallsBackToAStillValidIdentity()
    {
        var now = await fixture.NowAsync();
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "o");
        await fixture.ApproveIdentityAsync(marketplace, op, "o", null, Results.Seconds(now), signedAt: now);
        await fixture.ApproveOrganisationAsync(marketplace, op, "o", "REG-77", 1, OccurredWithLeft(now, TimeSpan.FromSeconds(20)), signedAt: now);
        var organisation = await fixture.AccountAsync(marketplace, "o");
        Assert.Equal(("organisation_verified", Results.Seconds(now).AddSeconds(20)), (organisation.Tier.Id, organisation.TierExpiresAt.ToDateTimeOffset()));

        await fixture.SetNowAsync(Results.Seconds(now).AddSeconds(21));
        await KycHostFixture.EventuallyAsync(async () => (await fixture.AccountAsync(marketplace, "o")).Tier.Id == "identity_verified", "the step down to identity");

        var account = await fixture.AccountAsync(marketplace, "o");
        Assert.Equal(Results.Seconds(now).AddDays(365), account.TierExpiresAt.ToDateTimeOffset());
        Assert.Equal("verification expired", account.History.Last().Reason);
    }

    [Fact]
    public async Task ExpiredIdentityWithoutAPurpose_StepsDownToAnonymous()
    {
        var now = await fixture.NowAsync();
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "n");
        await fixture.ApproveIdentityAsync(marketplace, op, "n", null, OccurredWithLeft(now, TimeSpan.FromSeconds(5)), signedAt: now);

        await fixture.SetNowAsync(Results.Seconds(now).AddSeconds(6));
        await KycHostFixture.EventuallyAsync(async () => (await fixture.AccountAsync(marketplace, "n")).Tier.Id == "anonymous", "the step down to anonymous");
    }

    [Fact]
    public async Task ARenewedVerification_MovesTheExpiry_AndTheTierStays()
    {
        var now = await fixture.NowAsync();
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "r");
        await fixture.ApproveIdentityAsync(marketplace, op, "r", null, OccurredWithLeft(now, TimeSpan.FromSeconds(10)), signedAt: now);
        await fixture.ApproveIdentityAsync(marketplace, op, "r", null, Results.Seconds(now), signedAt: now);
        Assert.Equal(Results.Seconds(now).AddDays(365), (await fixture.AccountAsync(marketplace, "r")).TierExpiresAt.ToDateTimeOffset());

        await fixture.SetNowAsync(Results.Seconds(now).AddSeconds(11));
        await fixture.Host.Services.GetRequiredService<VerificationExpiryService>().SweepAsync(CancellationToken.None);

        var account = await fixture.AccountAsync(marketplace, "r");
        Assert.Equal("identity_verified", account.Tier.Id);
        Assert.Single(await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "r"));
    }

    [Fact]
    public async Task AnApprovalAlreadyPastItsValidity_IsRecordedButGivesNoTier()
    {
        var now = await fixture.NowAsync();
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "old");

        var response = await fixture.ApproveIdentityAsync(marketplace, op, "old", null, OccurredWithLeft(now, TimeSpan.FromSeconds(-1)), signedAt: now);

        Assert.True(response.Applied);
        Assert.Equal((VerificationStatus.Approved, "anonymous"), (response.Status, response.Tier.Id));
        Assert.Empty(await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "old"));
        Assert.Null((await fixture.AccountAsync(marketplace, "old")).TierExpiresAt);
    }
}
