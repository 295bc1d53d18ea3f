using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Contracts;
using Oversight.Hosting.Auth;
using Oversight.Hosting.Outbox;
using Oversight.Kyc.Data;
using Oversight.Kyc.V1;

namespace Oversight.Kyc.Tests;

/// <summary>
/// GetAccount's next_step (set by enforcement's ThresholdCrossed) against the changes that take
/// or end it: a StatePurpose racing a crossing, its sequence, erasure. The races are made
/// deterministic by holding one side's commit (<see cref="SaveChangesGate"/>) while the other commits.
/// </summary>
public class NextStepTests(NextStepTests.GatedKycHostFixture fixture) : IClassFixture<NextStepTests.GatedKycHostFixture>
{
    private KycTiering.KycTieringClient Client => fixture.Client;

    [Fact]
    public async Task StatePurpose_ThatReadTheAccountBeforeACrossingCommitted_StillClearsTheStep()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "r");
        var purposeSaving = fixture.Gate.Arm(db => db.ChangeTracker.Entries<StatedPurposeRecord>().Any());

        var stating = Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "r", Category = PurposeCategory.Research, Text = "protein folding" }, op).ResponseAsync;
        await purposeSaving.WaitAsync(TimeSpan.FromSeconds(15));
        // StatePurpose has read the account (no step yet) and waits at its commit: the crossing commits first.
        var messageId = await PublishCrossingAsync(marketplace, "r");
        await WaitProcessedAsync(messageId);
        Assert.Equal("STATED_PURPOSE", (await StoredAsync(marketplace, "r")).NextStepRequirement);
        fixture.Gate.Release();
        var stated = (await stating).Account;

        Assert.Equal("stated_purpose", stated.Tier.Id);
        Assert.Null(stated.NextStep);
        Assert.Null((await fixture.AccountAsync(marketplace, "r")).NextStep);
    }

    [Fact]
    public async Task ThresholdCrossed_ThatReadTheAccountBeforeStatePurposeCommitted_DoesNotSetTheStepTaken()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "c");
        var crossingSaving = fixture.Gate.Arm(db => db.ChangeTracker.Entries<ProcessedMessage>().Any(e => e.State == EntityState.Added));

        var messageId = await PublishCrossingAsync(marketplace, "c");
        await crossingSaving.WaitAsync(TimeSpan.FromSeconds(15));
        // The consumer has read the anonymous account and decided to set the step; the tier changes first.
        var stated = (await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "c", Category = PurposeCategory.Education, Text = "a course" }, op)).Account;
        fixture.Gate.Release();
        await WaitProcessedAsync(messageId);

        Assert.Equal("stated_purpose", stated.Tier.Id);
        Assert.Null((await fixture.AccountAsync(marketplace, "c")).NextStep);
        Assert.Null((await StoredAsync(marketplace, "c")).NextStepRequirement);
    }

    [Fact]
    public async Task ACrossingDecidedOnTheOldTier_ArrivingAfterTheTierChange_SetsNoStep()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "late");
        await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "late", Category = PurposeCategory.Research, Text = "weather models" }, op);

        // Decided on the anonymous tier (CurrentTierLevel 0) before the purpose, delivered after it.
        await WaitProcessedAsync(await PublishCrossingAsync(marketplace, "late", crossedAt: DateTimeOffset.UtcNow));

        Assert.Null((await fixture.AccountAsync(marketplace, "late")).NextStep);
    }

    [Fact]
    public async Task Sequence_MovesWhenTheNextStepIsSetAndWhenItIsCleared_AndWhenTheCategoryIsRestated()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "s");
        var created = await fixture.AccountAsync(marketplace, "s");

        await WaitProcessedAsync(await PublishCrossingAsync(marketplace, "s"));
        var withStep = await fixture.AccountAsync(marketplace, "s");
        Assert.NotNull(withStep.NextStep);
        Assert.True(withStep.Sequence > created.Sequence, $"sequence {withStep.Sequence} after the step was set, {created.Sequence} before");

        var stated = (await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "s", Category = PurposeCategory.Research, Text = "first" }, op)).Account;
        Assert.Null(stated.NextStep);
        Assert.True(stated.Sequence > withStep.Sequence, $"sequence {stated.Sequence} after the step was cleared, {withStep.Sequence} before");

        // A restated purpose keeps the tier but changes the category GetAccount shows.
        var restated = (await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "s", Category = PurposeCategory.Education, Text = "second" }, op)).Account;
        Assert.Equal(PurposeCategory.Education, restated.PurposeCategory);
        Assert.True(restated.Sequence > stated.Sequence, $"sequence {restated.Sequence} after the category changed, {stated.Sequence} before");
    }

    [Fact]
    public async Task EraseAccount_ClearsTheNextStep_AndALaterCrossingSetsNone()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "e");
        await WaitProcessedAsync(await PublishCrossingAsync(marketplace, "e", requirement: "IDENTITY"));
        var before = await fixture.AccountAsync(marketplace, "e");
        Assert.Equal(Common.V1.RequirementKind.Identity, before.NextStep.Requirement);

        await Client.EraseAccountAsync(new EraseAccountRequest { MarketplaceId = marketplace, AccountId = "e", Reason = "data subject request" }, fixture.Auth(Roles.Compliance, marketplace));
        var erased = await fixture.AccountAsync(marketplace, "e");
        Assert.True(erased.Erased);
        Assert.Null(erased.NextStep);
        Assert.True(erased.Sequence > before.Sequence);

        // Enforcement may still announce a step it decided before it learnt of the erasure.
        await WaitProcessedAsync(await PublishCrossingAsync(marketplace, "e", requirement: "IDENTITY", crossedAt: DateTimeOffset.UtcNow.AddSeconds(1)));
        Assert.Null((await fixture.AccountAsync(marketplace, "e")).NextStep);
    }

    /// <summary>A REQUIRE_* crossing decided on the anonymous tier (level 0), as enforcement publishes it.</summary>
    private async Task<Guid> PublishCrossingAsync(string marketplace, string accountId, string requirement = "STATED_PURPOSE", DateTimeOffset? crossedAt = null)
    {
        var (verdict, level, tier) = requirement == "IDENTITY" ? ("REQUIRE_IDENTITY", 2, "identity_verified") : ("REQUIRE_STATED_PURPOSE", 1, "stated_purpose");
        var crossing = new ThresholdCrossed(marketplace, accountId, verdict, false, 0, level, tier, requirement, "24h", "FLOP_UNITS", 100, 0, 100, 1,
            crossedAt ?? DateTimeOffset.UtcNow.AddSeconds(-5));
        var messageId = Guid.NewGuid();
        await fixture.Host.Services.GetRequiredService<IBus>().Publish(crossing, c => c.MessageId = messageId);
        return messageId;
    }

    private async Task WaitProcessedAsync(Guid messageId)
    {
        await using var db = fixture.NewDbContext();
        await KycHostFixture.EventuallyAsync(() => db.ProcessedMessages.AnyAsync(m => m.MessageId == messageId), "the crossing processed");
    }

    private async Task<AccountRecord> StoredAsync(string marketplace, string accountId)
    {
        await using var db = fixture.NewDbContext();
        return await db.Accounts.AsNoTracking().SingleAsync(a => a.MarketplaceId == marketplace && a.AccountId == accountId);
    }

    /// <summary>The KYC host with a <see cref="SaveChangesGate"/> on its database.</summary>
    public sealed class GatedKycHostFixture : KycHostFixture
    {
        public SaveChangesGate Gate { get; } = new();

        protected override void OverrideServices(IServiceCollection services) =>
            services.ConfigureDbContext<KycDbContext>(options => options.AddInterceptors(Gate));
    }

    /// <summary>
    /// Holds the first SaveChanges that matches, once armed, until the test releases it: the
    /// unit of work has read its rows and waits at its commit while another change commits.
    /// </summary>
    public sealed class SaveChangesGate : SaveChangesInterceptor
    {
        private Func<DbContext, bool>? _match;
        private TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Returns a task that completes when a matching SaveChanges is being held.</summary>
        public Task Arm(Func<DbContext, bool> match)
        {
            _reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _match, match);
            return _reached.Task;
        }

        public void Release() => _released.TrySetResult();

        public override async ValueTask<InterceptionResult<int>> SavingChangesAsync(
            DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
        {
            var match = Volatile.Read(ref _match);
            if (match is not null && eventData.Context is { } context && match(context) && Interlocked.CompareExchange(ref _match, null, match) == match)
            {
                _reached.TrySetResult();
                await _released.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            }

            return result;
        }
    }
}
