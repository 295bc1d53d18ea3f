using Grpc.Core;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Common.V1;
using Oversight.Contracts;
using Oversight.Hosting.Auth;
using Oversight.Kyc.V1;
using Oversight.Testing;

namespace Oversight.Kyc.Tests;

public class AccountTests(KycHostFixture fixture) : IClassFixture<KycHostFixture>
{
    private KycTiering.KycTieringClient Client => fixture.Client;

    [Fact]
    public async Task CreateAccount_WithOwnId_StartsAnonymousAndGetAccountShowsIt()
    {
        var (marketplace, op) = fixture.NewMarketplace();

        var created = (await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "user-1" }, op)).Account;
        var read = (await Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "user-1" }, op)).Account;

        Assert.Equal(created, read);
        Assert.Equal("user-1", read.AccountId);
        Assert.Equal(new Tier { Level = 0, Id = "anonymous", DisplayName = "Anonymous", Requirement = RequirementKind.None }, read.Tier);
        Assert.Equal("user-1", read.ClusterRoot);
        Assert.False(read.Suspended);
        Assert.Equal(1, read.PolicyVersion);
        Assert.Equal(PurposeCategory.Unspecified, read.PurposeCategory);
        Assert.Null(read.NextStep);
        Assert.Null(read.TierExpiresAt);
        var entry = Assert.Single(read.History);
        Assert.Equal("created", entry.Reason);
        Assert.Equal("operator:test-operator", entry.Actor);

        var events = await fixture.OutboxEventsAsync<AccountCreated>(marketplace, "user-1");
        Assert.Equal(1, Assert.Single(events).Sequence);
        await KycHostFixture.EventuallyAsync(() => Task.FromResult(fixture.Events.Of<AccountCreated>(marketplace).Any()), "AccountCreated on the bus");
        await using var db = fixture.NewDbContext();
        Assert.Contains(await db.AuditEvents.Where(a => a.MarketplaceId == marketplace).ToListAsync(), a => a.Action == "account.created");
    }

    [Fact]
    public async Task CreateAccount_WithoutId_GeneratesAPseudonym()
    {
        var (marketplace, op) = fixture.NewMarketplace();

        var account = (await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace }, op)).Account;

        Assert.Matches("^acct_[a-z2-7]{20}$", account.AccountId);
        Assert.Equal(account.AccountId, account.ClusterRoot);
    }

    [Fact]
    public async Task CreateAccount_WhenIdIsTaken_IsAlreadyExistsAndChangesNothing()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "dup" }, op);
        var before = await fixture.CountRowsAsync();

        await RpcAssert.FailsAsync(StatusCode.AlreadyExists,
            () => Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "dup" }, op), "dup");

        Assert.Equal(before, await fixture.CountRowsAsync());
    }

    [Fact]
    public async Task CreateAccount_TheSameIdInAnotherMarketplace_IsAnotherAccount()
    {
        var (first, op1) = fixture.NewMarketplace();
        var (second, op2) = fixture.NewMarketplace();

        await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = first, AccountId = "same" }, op1);
        var other = (await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = second, AccountId = "same" }, op2)).Account;

        Assert.Equal(second, other.MarketplaceId);
    }

    [Fact]
    public async Task EveryImplementedRpc_WithAnotherMarketplacesToken_IsPermissionDeniedAndReturnsNoData()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "victim" }, op);
        await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "victim", Category = PurposeCategory.Research, Text = "secret plan" }, op);
        var before = await fixture.CountRowsAsync();
        var other = TestServers.UniqueId("other");

        async Task Denied<T>(string role, Func<Metadata, AsyncUnaryCall<T>> call)
        {
            var exception = await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => call(fixture.Auth(role, other)));
            Assert.DoesNotContain("secret plan", exception.Status.Detail, StringComparison.Ordinal);
        }

        await Denied(Roles.Operator, h => Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "new" }, h));
        await Denied(Roles.Operator, h => Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "victim" }, h));
        await Denied(Roles.Auditor, h => Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "victim" }, h));
        await Denied(Roles.Operator, h => Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "victim", Category = PurposeCategory.Other, Text = "x" }, h));
        await Denied(Roles.Auditor, h => Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "victim", Reason = "look" }, h));
        await Denied(Roles.Operator, h => Client.StartIdentityVerificationAsync(new StartIdentityVerificationRequest { MarketplaceId = marketplace, AccountId = "victim" }, h));
        await Denied(Roles.Compliance, h => Client.SuspendAccountAsync(new SuspendAccountRequest { MarketplaceId = marketplace, AccountId = "victim", Reason = "r" }, h));
        await Denied(Roles.Compliance, h => Client.ReinstateAccountAsync(new ReinstateAccountRequest { MarketplaceId = marketplace, AccountId = "victim", Reason = "r" }, h));

        Assert.Equal(before, await fixture.CountRowsAsync());
    }

    [Fact]
    public async Task EveryImplementedRpc_WithAWrongRole_IsPermissionDenied()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "a" }, op);
        var before = await fixture.CountRowsAsync();
        Metadata As(string role) => fixture.Auth(role, marketplace);

        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace }, As(Roles.Provider)));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace }, As(Roles.Auditor)));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "a" }, As(Roles.Provider)));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "a", Category = PurposeCategory.Research, Text = "t" }, As(Roles.Auditor)));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "a", Reason = "r" }, As(Roles.Operator)));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "a", Reason = "r" }, As(Roles.Compliance)));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.StartIdentityVerificationAsync(new StartIdentityVerificationRequest { MarketplaceId = marketplace, AccountId = "a" }, As(Roles.Auditor)));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.SuspendAccountAsync(new SuspendAccountRequest { MarketplaceId = marketplace, AccountId = "a", Reason = "r" }, As(Roles.Operator)));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.ReinstateAccountAsync(new ReinstateAccountRequest { MarketplaceId = marketplace, AccountId = "a", Reason = "r" }, As(Roles.Operator)));
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "a" }),
            "A bearer token is required");
        // A refused token says why (and never echoes the token).
        var key = DevelopmentSigningKey.LoadOrCreate(fixture.Host.DataDirectory);
        Metadata Bearer(string token) => new() { { "Authorization", $"Bearer {token}" } };
        var expired = key.CreateToken("oversight", Roles.Operator, marketplace, null, "t", TimeSpan.FromMinutes(10), DateTimeOffset.UtcNow.AddHours(-2));
        var otherAudience = key.CreateToken("someone-else", Roles.Operator, marketplace, null, "t", TimeSpan.FromMinutes(10), DateTimeOffset.UtcNow);
        foreach (var (token, says) in new[] { (expired, "has expired"), (otherAudience, "another audience"), ("not-a-jwt", "not a valid token") })
        {
            var refused = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "a" }, Bearer(token)), says);
            Assert.DoesNotContain(token, refused.Status.Detail, StringComparison.Ordinal);
        }

        Assert.Equal(before, await fixture.CountRowsAsync());
    }

    [Fact]
    public async Task GetAccount_ForTheServiceRole_WorksInAnyMarketplace()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "a" }, op);

        var account = (await Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "a" }, fixture.Auth(Roles.Service, null))).Account;

        Assert.Equal("anonymous", account.Tier.Id);
    }

    [Fact]
    public async Task GetAccount_ForAnUnknownAccount_IsNotFound()
    {
        var (marketplace, op) = fixture.NewMarketplace();

        await RpcAssert.FailsAsync(StatusCode.NotFound, () => Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "nobody" }, op), "nobody");
    }

    [Theory]
    [InlineData("", "a", "marketplace_id")]
    [InlineData("bad marketplace", "a", "marketplace_id")]
    [InlineData("m", "", "account_id")]
    [InlineData("m", "has space", "account_id")]
    [InlineData("m", "slash/id", "account_id")]
    public async Task GetAccount_WithAMalformedId_IsInvalidArgumentNamingTheField(string marketplace, string account, string field)
    {
        var exception = await RpcAssert.FailsAsync(StatusCode.InvalidArgument,
            () => Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = account }, fixture.Auth(Roles.Service, null)), field);
        Assert.StartsWith(field, exception.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateAccount_WithAMalformedAccountId_IsInvalidArgumentAndChangesNothing()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        var before = await fixture.CountRowsAsync();

        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "no spaces" }, op), "account_id");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = new string('a', 129) }, op), "account_id");

        Assert.Equal(before, await fixture.CountRowsAsync());
    }

    [Fact]
    public async Task SuspendAndReinstate_PublishEventsWithIncreasingSequenceAndRecordHistory()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "s" }, op);
        var compliance = fixture.Auth(Roles.Compliance, marketplace);

        var suspended = (await Client.SuspendAccountAsync(new SuspendAccountRequest { MarketplaceId = marketplace, AccountId = "s", Reason = "case 42" }, compliance)).Account;
        Assert.True(suspended.Suspended);
        Assert.True((await Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "s" }, op)).Account.Suspended);

        var reinstated = (await Client.ReinstateAccountAsync(new ReinstateAccountRequest { MarketplaceId = marketplace, AccountId = "s", Reason = "case closed" }, fixture.Auth(Roles.Admin, marketplace))).Account;
        Assert.False(reinstated.Suspended);
        Assert.Equal(["created", "suspended: case 42", "reinstated: case closed"], reinstated.History.Select(h => h.Reason));

        var suspendedEvent = Assert.Single(await fixture.OutboxEventsAsync<AccountSuspended>(marketplace, "s"));
        var reinstatedEvent = Assert.Single(await fixture.OutboxEventsAsync<AccountReinstated>(marketplace, "s"));
        Assert.Equal((2L, "case 42", "compliance:test-compliance"), (suspendedEvent.Sequence, suspendedEvent.Reason, suspendedEvent.Actor));
        Assert.Equal(3, reinstatedEvent.Sequence);
        await KycHostFixture.EventuallyAsync(() => Task.FromResult(fixture.Events.Of<AccountReinstated>(marketplace).Any() && fixture.Events.Of<AccountSuspended>(marketplace).Any()), "suspension events on the bus");
        await using var db = fixture.NewDbContext();
        var actions = await db.AuditEvents.Where(a => a.MarketplaceId == marketplace).Select(a => a.Action).ToListAsync();
        Assert.Contains("account.suspended", actions);
        Assert.Contains("account.reinstated", actions);
    }

    [Fact]
    public async Task Suspend_WhenAlreadySuspended_IsFailedPreconditionAndPublishesNothingMore()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "s" }, op);
        var compliance = fixture.Auth(Roles.Compliance, marketplace);
        await Client.SuspendAccountAsync(new SuspendAccountRequest { MarketplaceId = marketplace, AccountId = "s", Reason = "first" }, compliance);
        var before = await fixture.CountRowsAsync();

        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, () => Client.SuspendAccountAsync(new SuspendAccountRequest { MarketplaceId = marketplace, AccountId = "s", Reason = "again" }, compliance), "already suspended");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.ReinstateAccountAsync(new ReinstateAccountRequest { MarketplaceId = marketplace, AccountId = "s", Reason = "  " }, compliance), "reason");
        await RpcAssert.FailsAsync(StatusCode.NotFound, () => Client.SuspendAccountAsync(new SuspendAccountRequest { MarketplaceId = marketplace, AccountId = "ghost", Reason = "r" }, compliance));

        Assert.Equal(before, await fixture.CountRowsAsync());
    }

    [Fact]
    public async Task ThresholdCrossed_SetsTheNextStep_OnceAndNotForAStepAlreadyTaken()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "t" }, op);
        // Warm the cache, so the test also shows the consumer invalidates it.
        await Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "t" }, op);
        var crossedAt = DateTimeOffset.UtcNow.AddSeconds(-5);
        var crossing = new ThresholdCrossed(marketplace, "t", "REQUIRE_STATED_PURPOSE", false, 0, 1, "stated_purpose", "STATED_PURPOSE", "30d", "FLOP_UNITS", 100, 0, 100, 1, crossedAt);
        var bus = fixture.Host.Services.GetRequiredService<IBus>();
        var messageId = Guid.NewGuid();

        await bus.Publish(crossing, c => c.MessageId = messageId);
        await KycHostFixture.EventuallyAsync(async () =>
            (await Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "t" }, op)).Account.NextStep is not null, "the next step");
        var account = (await Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "t" }, op)).Account;
        Assert.Equal(RequirementKind.StatedPurpose, account.NextStep.Requirement);
        Assert.Equal("30d", account.NextStep.Window);

        // Stating the purpose takes the step: it is cleared.
        var stated = (await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "t", Category = PurposeCategory.Education, Text = "course" }, op)).Account;
        Assert.Null(stated.NextStep);

        // The same message again (a redelivery), and a late crossing for a step already taken: nothing changes.
        await bus.Publish(crossing, c => c.MessageId = messageId);
        await bus.Publish(crossing with { CrossedAt = crossedAt.AddSeconds(1) }, c => c.MessageId = Guid.NewGuid());
        await using var db = fixture.NewDbContext();
        await KycHostFixture.EventuallyAsync(async () => await db.ProcessedMessages.CountAsync(m => m.Consumer == "kyc.threshold-crossed") >= 2, "both messages processed");
        Assert.Null((await Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "t" }, op)).Account.NextStep);
    }
}
