using Npgsql;
using Oversight.Common.V1;
using Oversight.Enforcement.Tests.Infrastructure;
using Oversight.Kyc.V1;

namespace Oversight.Enforcement.Tests;

/// <summary>
/// What Authorize answers an erased account, and that a check_only preview changes nothing:
/// neither may make KYC show a next step the account cannot or did not need to take.
/// </summary>
public sealed class ErasureAndPreviewTests : IAsyncLifetime
{
    // Past the anonymous tier's 24h limit (20,000,000 units): the stated-purpose tier would fit.
    private const long StepUpRequest = 25_000_000;

    private EnforcementDeployment _deployment = null!;

    public async Task InitializeAsync() => _deployment = await SharedDeployment.GetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Authorize_ForAnErasedAccount_DeniesWhatNeedsAStepUp_SayingWhy_AndAnnouncesNoStep()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();

        await _deployment.KycClient.EraseAccountAsync(
            new EraseAccountRequest { MarketplaceId = market.Id, AccountId = account, Reason = "data subject request" }, _deployment.Auth("compliance", market.Id));
        // Enforcement learns it from AccountErased, as it learns a suspension.
        await Eventually.TrueAsync(() => StoredAsErasedAsync(market.Id, account), "enforcement's copy of the account marked erased");

        var refused = await market.AuthorizeAsync(market.Request(account, StepUpRequest));
        Assert.Equal(Verdict.Deny, refused.Verdict);
        Assert.Contains("erased", refused.Message);
        Assert.Null(refused.RequiredTier);
        Assert.Null(refused.Reservation);
        Assert.Equal("24h", refused.DecidingWindow.Window);
        // What its own tier (rung 0, where erasure left it) allows is still allowed.
        Assert.Equal(Verdict.Allow, (await market.AuthorizeAsync(market.Request(account, 1_000_000))).Verdict);

        Assert.Empty(await Stores.OutboxAsync(_deployment.EnforcementDatabase, "ThresholdCrossed", account));
        var kyc = (await _deployment.KycClient.GetAccountAsync(new GetAccountRequest { MarketplaceId = market.Id, AccountId = account }, market.Operator)).Account;
        Assert.Null(kyc.NextStep);
    }

    [Fact]
    public async Task Authorize_ForAnAccountErasedBeforeEnforcementHeardOfIt_AsksKycAndDenies()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();
        await _deployment.KycClient.EraseAccountAsync(
            new EraseAccountRequest { MarketplaceId = market.Id, AccountId = account, Reason = "data subject request" }, _deployment.Auth("compliance", market.Id));

        // Whether or not AccountErased has arrived, a step-up verdict is confirmed with KYC first.
        var refused = await market.AuthorizeAsync(market.Request(account, StepUpRequest));

        Assert.Equal(Verdict.Deny, refused.Verdict);
        Assert.Contains("erased", refused.Message);
        Assert.True(await StoredAsErasedAsync(market.Id, account));
    }

    [Fact]
    public async Task Authorize_CheckOnly_PublishesNothing_SoKycSetsNoNextStep()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();

        var preview = await market.AuthorizeAsync(market.Request(account, StepUpRequest, checkOnly: true));

        Assert.Equal(Verdict.RequireStatedPurpose, preview.Verdict);
        Assert.Null(preview.Reservation);
        Assert.Empty(await Stores.OutboxAsync(_deployment.EnforcementDatabase, "ThresholdCrossed", account));

        // The preview did not use up the first announcement: the real request makes it, and only
        // then does KYC show the step.
        Assert.Null((await KycAccountAsync(market, account)).NextStep);
        Assert.Equal(Verdict.RequireStatedPurpose, (await market.AuthorizeAsync(market.Request(account, StepUpRequest))).Verdict);
        Assert.Single(await Stores.OutboxAsync(_deployment.EnforcementDatabase, "ThresholdCrossed", account));
        await Eventually.TrueAsync(async () => (await KycAccountAsync(market, account)).NextStep is not null, "KYC's next_step after the real request");
    }

    [Fact]
    public async Task Authorize_CheckOnly_NearTheLimit_PublishesNothing()
    {
        var market = _deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync();

        Assert.Equal(Verdict.AllowNearLimit, (await market.AuthorizeAsync(market.Request(account, 17_000_000, checkOnly: true))).Verdict);

        Assert.Empty(await Stores.OutboxAsync(_deployment.EnforcementDatabase, "ThresholdCrossed", account));
    }

    private async Task<Account> KycAccountAsync(TestMarketplace market, string account) =>
        (await _deployment.KycClient.GetAccountAsync(new GetAccountRequest { MarketplaceId = market.Id, AccountId = account }, market.Operator)).Account;

    private async Task<bool> StoredAsErasedAsync(string marketplace, string account)
    {
        await using var connection = new NpgsqlConnection(_deployment.EnforcementDatabase);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT \"Erased\" FROM accounts WHERE \"MarketplaceId\" = @m AND \"AccountId\" = @a", connection);
        command.Parameters.AddWithValue("m", marketplace);
        command.Parameters.AddWithValue("a", account);
        return await command.ExecuteScalarAsync() is true;
    }
}
