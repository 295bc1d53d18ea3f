using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Common.V1;
using Oversight.Contracts;
using Oversight.Enforcement.Tests.Infrastructure;
using Oversight.Kyc.V1;

namespace Oversight.Enforcement.Tests;

/// <summary>
/// KYC's account events reach enforcement in any order (a consumer's retry, a redelivery):
/// enforcement's copy of the account ends as KYC has it. The events are handed to an enforcement
/// replica on an in-memory bus, in the order the test chooses.
/// </summary>
public sealed class AccountEventOrderTests
{
    [Fact]
    public async Task ATierChangeArrivingBeforeTheEarlierSuspension_DoesNotLoseTheSuspension()
    {
        await using var deployment = await EnforcementDeployment.StartAsync();
        await deployment.Enforcement.DisposeAsync();
        var host = await deployment.StartEnforcementHostAsync(settings: new Dictionary<string, string?> { ["Oversight:Bus:Transport"] = "InMemory" });
        var market = deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync(1);

        // Suspended, then a stated purpose moves the suspended account up a rung.
        await deployment.KycClient.SuspendAccountAsync(
            new SuspendAccountRequest { MarketplaceId = market.Id, AccountId = account, Reason = "chargeback fraud" }, deployment.Auth("compliance", market.Id));
        await deployment.KycClient.StatePurposeAsync(
            new StatePurposeRequest { MarketplaceId = market.Id, AccountId = account, Category = PurposeCategory.Research, Text = "protein folding benchmarks" }, market.Operator);
        var suspended = await EventAsync<AccountSuspended>(deployment, account);
        var tierChanged = await EventAsync<AccountTierChanged>(deployment, account);
        Assert.True(tierChanged.Sequence > suspended.Sequence);

        // The tier change arrives first; the suspension (retried, say) after it.
        var bus = host.Services.GetRequiredService<IBus>();
        await bus.Publish(tierChanged);
        await Eventually.TrueAsync(async () => (await market.UsageAsync(account, 1)).Tier.Level == tierChanged.ToLevel, "the tier change to be applied");
        await bus.Publish(suspended);

        // Whatever the order, a suspended account is denied.
        var verdict = Verdict.Unspecified;
        await Eventually.TrueAsync(async () =>
        {
            verdict = (await market.AuthorizeAsync(market.Request(account, 1_000), host: 1)).Verdict;
            return verdict == Verdict.Deny;
        }, () => $"the suspended account to be denied (last verdict {verdict})", seconds: 20);
    }

    [Fact]
    public async Task ASuspensionThatSkipsAChange_IsAppliedFromItsEvent_WhenKycCannotBeAsked()
    {
        await using var deployment = await EnforcementDeployment.StartAsync();
        await deployment.Enforcement.DisposeAsync();
        var inMemoryBus = new Dictionary<string, string?> { ["Oversight:Bus:Transport"] = "InMemory" };
        var first = await deployment.StartEnforcementHostAsync(settings: inMemoryBus);
        var market = deployment.NewMarketplace();
        var account = await market.CreateKnownAccountAsync(1);

        // A change this replica gets no event for (its bus is its own), then the suspension.
        await deployment.KycClient.StatePurposeAsync(
            new StatePurposeRequest { MarketplaceId = market.Id, AccountId = account, Category = PurposeCategory.Research, Text = "protein folding benchmarks" }, market.Operator);
        await deployment.KycClient.SuspendAccountAsync(
            new SuspendAccountRequest { MarketplaceId = market.Id, AccountId = account, Reason = "chargeback fraud" }, deployment.Auth("compliance", market.Id));
        var suspended = await EventAsync<AccountSuspended>(deployment, account);
        await first.DisposeAsync();

        // KYC cannot be reached: the suspension is applied from its event all the same, not held back.
        var cutOff = await deployment.StartEnforcementHostAsync(settings: new Dictionary<string, string?>(inMemoryBus)
        {
            ["Oversight:Enforcement:KycAddress"] = $"http://127.0.0.1:{Oversight.Testing.LoopbackPorts.Free()}",
            ["Oversight:Enforcement:PeerCallTimeoutSeconds"] = "2",
        });
        await cutOff.Services.GetRequiredService<IBus>().Publish(suspended);

        var verdict = Verdict.Unspecified;
        await Eventually.TrueAsync(async () =>
        {
            verdict = (await market.AuthorizeAsync(market.Request(account, 1_000), host: 2)).Verdict;
            return verdict == Verdict.Deny;
        }, () => $"the suspended account to be denied (last verdict {verdict})", seconds: 20);
    }

    private static async Task<T> EventAsync<T>(EnforcementDeployment deployment, string account) =>
        JsonSerializer.Deserialize<T>((await Stores.OutboxAsync(deployment.KycDatabase, typeof(T).Name, account)).Single().Payload, new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
}
