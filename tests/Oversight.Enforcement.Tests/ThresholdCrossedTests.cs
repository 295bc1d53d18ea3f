using Oversight.Common.V1;
using Oversight.Enforcement.Tests.Infrastructure;
using Oversight.Kyc.V1;

namespace Oversight.Enforcement.Tests;

/// <summary>ThresholdCrossed and the near-limit notice (issue 6, item 7), through enforcement's outbox to KYC.</summary>
public sealed class ThresholdCrossedTests : IAsyncLifetime
{
    private EnforcementDeployment _deployment = null!;

    public async Task InitializeAsync() => _deployment = await SharedDeployment.GetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task TheFirstStepUp_PublishesThresholdCrossedOnce_AndKycShowsTheNextStep()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();

        var refused = await market.AuthorizeAsync(market.Request(account, 25_000_000));
        Assert.Equal(Verdict.RequireStatedPurpose, refused.Verdict);
        var rows = await Stores.OutboxAsync(_deployment.EnforcementDatabase, "ThresholdCrossed", account);
        var crossed = Assert.Single(rows).Json;
        Assert.Equal("REQUIRE_STATED_PURPOSE", crossed.GetProperty("verdict").GetString());
        Assert.Equal("STATED_PURPOSE", crossed.GetProperty("requirement").GetString());
        Assert.Equal("24h", crossed.GetProperty("windowId").GetString());
        Assert.False(crossed.GetProperty("nearLimit").GetBoolean());
        Assert.Equal(refused.PolicyVersion, crossed.GetProperty("policyVersion").GetInt64());

        // Refused again, by another lease and another window: nothing new to announce.
        Assert.Equal(Verdict.RequireStatedPurpose, (await market.AuthorizeAsync(market.Request(account, 21_000_000))).Verdict);
        Assert.Equal(Verdict.RequireIdentity, (await market.AuthorizeAsync(market.Request(account, 3_000_000_000))).Verdict);
        Assert.Single(await Stores.OutboxAsync(_deployment.EnforcementDatabase, "ThresholdCrossed", account));

        // The row is published and KYC, its consumer, records the step the account must take.
        await Eventually.TrueAsync(async () =>
            (await Stores.OutboxAsync(_deployment.EnforcementDatabase, "ThresholdCrossed", account)).Single().PublishedAt is not null, "ThresholdCrossed published");
        NextStep? next = null;
        await Eventually.TrueAsync(async () =>
        {
            next = (await _deployment.KycClient.GetAccountAsync(new GetAccountRequest { MarketplaceId = market.Id, AccountId = account }, market.Operator)).Account.NextStep;
            return next is not null;
        }, "KYC's next_step for the account");
        Assert.Equal((RequirementKind.StatedPurpose, "24h"), (next!.Requirement, next.Window));
    }

    [Fact]
    public async Task PassingTheNearLimitFraction_IsAnnouncedOnce_WithoutAskingForAStep()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        Assert.Equal(Verdict.Allow, (await market.AuthorizeAsync(market.Request(account, 10_000_000))).Verdict);
        Assert.Empty(await Stores.OutboxAsync(_deployment.EnforcementDatabase, "ThresholdCrossed", account));

        Assert.Equal(Verdict.AllowNearLimit, (await market.AuthorizeAsync(market.Request(account, 7_000_000))).Verdict);
        Assert.Equal(Verdict.AllowNearLimit, (await market.AuthorizeAsync(market.Request(account, 1_000_000))).Verdict);

        var notice = Assert.Single(await Stores.OutboxAsync(_deployment.EnforcementDatabase, "ThresholdCrossed", account)).Json;
        Assert.True(notice.GetProperty("nearLimit").GetBoolean());
        Assert.Equal("ALLOW_NEAR_LIMIT", notice.GetProperty("verdict").GetString());
        Assert.Equal(("24h", 10_000_000L, 20_000_000L), (notice.GetProperty("windowId").GetString(), notice.GetProperty("held").GetInt64(), notice.GetProperty("limit").GetInt64()));
        await Eventually.TrueAsync(async () =>
            (await Stores.OutboxAsync(_deployment.EnforcementDatabase, "ThresholdCrossed", account)).Single().PublishedAt is not null, "the notice published");
        var kyc = (await _deployment.KycClient.GetAccountAsync(new GetAccountRequest { MarketplaceId = market.Id, AccountId = account }, market.Operator)).Account;
        Assert.Null(kyc.NextStep);
    }
}
