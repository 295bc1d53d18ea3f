using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Contracts;
using Oversight.Kyc.V1;
using Oversight.Policy.Documents;

namespace Oversight.Kyc.Tests;

/// <summary>Its own host and database: a stored policy version changes the ladder for every later test of the class.</summary>
public class PolicyChangedTests(KycHostFixture fixture) : IClassFixture<KycHostFixture>
{
    [Fact]
    public async Task PolicyChanged_IsStoredOnce_AndNewTierChangesUseItsLadder()
    {
        var client = fixture.Client;
        var (marketplace, op) = fixture.NewMarketplace();
        await client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "before" }, op);
        var yaml = DefaultPolicy.Yaml.Replace("display_name: Stated purpose", "display_name: Purpose on file", StringComparison.Ordinal);
        Assert.NotEqual(DefaultPolicy.Yaml, yaml);
        var bus = fixture.Host.Services.GetRequiredService<IBus>();
        var changed = new PolicyChanged(2, yaml, "YAML", "admin:test", DateTimeOffset.UtcNow);

        await bus.Publish(changed, c => c.MessageId = Guid.NewGuid());
        await bus.Publish(changed, c => c.MessageId = Guid.NewGuid());
        await using var db = fixture.NewDbContext();
        await KycHostFixture.EventuallyAsync(() => db.PolicyCopies.AnyAsync(p => p.Version == 2), "policy version 2 stored");
        await Task.Delay(300);
        var copy = await db.PolicyCopies.AsNoTracking().SingleAsync();
        Assert.Equal((2L, "YAML", yaml), (copy.Version, copy.Format, copy.Document));

        await client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "after" }, op);
        var stated = await client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "after", Category = PurposeCategory.Research, Text = "t" }, op);

        Assert.Equal(("Purpose on file", 2L), (stated.Account.Tier.DisplayName, stated.Account.PolicyVersion));
        Assert.Equal(2, Assert.Single(await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "after")).PolicyVersion);
        // An account whose tier belongs to version 1 still shows version 1's names until it changes.
        var before = (await client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "before" }, op)).Account;
        Assert.Equal(("Anonymous", 1L), (before.Tier.DisplayName, before.PolicyVersion));
    }
}

public class ConcurrencyTests(KycHostFixture fixture) : IClassFixture<KycHostFixture>
{
    [Fact]
    public async Task StatePurpose_CalledConcurrently_ChangesTheTierOnceWithUniqueSequences()
    {
        var client = fixture.Client;
        var (marketplace, op) = fixture.NewMarketplace();
        await client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "c" }, op);

        var calls = Enumerable.Range(0, 6).Select(i =>
            client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "c", Category = PurposeCategory.Research, Text = $"text {i}" }, op).ResponseAsync);
        var responses = await Task.WhenAll(calls);

        Assert.All(responses, r => Assert.Equal("stated_purpose", r.Account.Tier.Id));
        Assert.Single(await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "c"));
        await using var db = fixture.NewDbContext();
        Assert.Equal(1, await db.StatedPurposes.CountAsync(p => p.MarketplaceId == marketplace));
        Assert.Equal(1, await db.AccountKeys.CountAsync(k => k.MarketplaceId == marketplace));
    }

    [Fact]
    public async Task CreateAccount_CalledConcurrentlyWithOneId_CreatesOneAccount()
    {
        var client = fixture.Client;
        var (marketplace, op) = fixture.NewMarketplace();

        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(async _ =>
        {
            try
            {
                await client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "once" }, op);
                return Grpc.Core.StatusCode.OK;
            }
            catch (Grpc.Core.RpcException exception)
            {
                return exception.StatusCode;
            }
        }));

        Assert.Equal(1, results.Count(r => r == Grpc.Core.StatusCode.OK));
        Assert.All(results.Where(r => r != Grpc.Core.StatusCode.OK), r => Assert.Equal(Grpc.Core.StatusCode.AlreadyExists, r));
        Assert.Single(await fixture.OutboxEventsAsync<AccountCreated>(marketplace, "once"));
    }
}
