using System.Security.Cryptography;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Attestation.V1;
using Oversight.Client;
using Oversight.Common.V1;
using Oversight.Enforcement.V1;
using Oversight.Kyc.V1;
using Xunit;
using Xunit.Abstractions;

namespace Oversight.IntegrationTests.Client;

/// <summary>
/// The .NET client library against the embedded default started as a real process, using the
/// library's public surface only (plus the program's `token` command for bearer tokens): what a
/// marketplace and a provider host write.
/// </summary>
public sealed class ClientLibraryTests(EmbeddedHostFixture host, ITestOutputHelper output) : IClassFixture<EmbeddedHostFixture>
{
    private const string Model = "H100-SXM";
    private const string ProviderId = "prov-client";

    [Fact]
    public async Task Client_OnTheEmbeddedDefault_RunsTheWholeFlowAndVerifiesTokensAndProofsOffline()
    {
        var marketplace = EmbeddedHostFixture.NewMarketplace("client");
        await using var marketplaceServices = await host.ClientAsync("operator", marketplace);
        await using var providerServices = await host.ClientAsync("provider", marketplace, ProviderId);
        var oversight = marketplaceServices.GetRequiredService<OversightClient>();
        var providerHost = providerServices.GetRequiredService<OversightClient>();

        // The marketplace creates a pseudonymous account (the id is generated) and registers the provider's key.
        var account = (await oversight.Kyc.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace })).Account;
        Assert.Equal("anonymous", account.Tier.Id);
        using var providerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await RegisterProviderAsync(oversight, marketplace, providerKey);

        // 14 H100-hours: 19,938,240 of the anonymous tier's 20,000,000 units a day.
        var first = await oversight.AuthorizeLeaseAsync(marketplace, account.AccountId, "lease-1", Model, 1, TimeSpan.FromHours(14));
        output.WriteLine($"Authorize lease-1 -> {first}");
        Assert.Equal(LeaseDecisionKind.Allow, first.Kind);
        Assert.True(first.IsAllowed);
        Assert.True(first.IsNearLimit);
        Assert.Equal(19_938_240, first.Reservation!.FlopUnits);

        // The provider host signs and submits the lease's usage in one call.
        var receipt = await providerHost.SignAndSubmitUsageAsync(Usage(marketplace, account.AccountId, "lease-1", TimeSpan.FromHours(14), 19_938_240), "key-1", providerKey);
        output.WriteLine($"SignAndSubmitUsage lease-1 -> {receipt.Outcome}, leaf {receipt.LeafIndex} {receipt.LeafHash}");
        Assert.Equal(Outcome.Accepted, receipt.Outcome);
        await WaitForUsageAsync(oversight, marketplace, account.AccountId, 19_938_240);

        // The budget is used: the next lease needs a stated purpose.
        var refused = await oversight.AuthorizeLeaseAsync(marketplace, account.AccountId, "lease-2", Model, 1, TimeSpan.FromHours(1));
        output.WriteLine($"Authorize lease-2 -> {refused}");
        Assert.Equal(LeaseDecisionKind.StatePurpose, refused.Kind);
        Assert.False(refused.IsAllowed);
        Assert.Equal("stated_purpose", refused.RequiredTier!.Id);
        Assert.Equal("24h", refused.DecidingWindow!.Window);
        Assert.False(string.IsNullOrWhiteSpace(refused.Message));
        Assert.Null(refused.Reservation);

        await oversight.Kyc.StatePurposeAsync(new StatePurposeRequest
        {
            MarketplaceId = marketplace,
            AccountId = account.AccountId,
            Category = PurposeCategory.Research,
            Text = "Fine-tuning a protein language model for a thesis.",
        });
        var allowed = await oversight.AuthorizeLeaseAsync(marketplace, account.AccountId, "lease-2", Model, 1, TimeSpan.FromHours(1));
        output.WriteLine($"Authorize lease-2 after StatePurpose -> {allowed}");
        Assert.True(allowed.IsAllowed);
        Assert.Equal("stated_purpose", allowed.CurrentTier!.Id);

        // A tier token, issued to the provider, verified by the provider offline against the JWKS.
        var issued = await oversight.Kyc.IssueTierTokenAsync(new IssueTierTokenRequest { MarketplaceId = marketplace, AccountId = account.AccountId, Audience = ProviderId });
        var verified = await providerHost.VerifyTierTokenAsync(issued.Token, ProviderId);
        Assert.True(verified.IsValid, verified.Error);
        Assert.Equal(account.AccountId, verified.Claims!.Subject);
        Assert.Equal("stated_purpose", verified.Claims.TierId);
        Assert.Equal("STATED_PURPOSE", verified.Claims.Requirement);
        Assert.Equal("RESEARCH", verified.Claims.PurposeCategory);
        Assert.Equal(issued.KeyId, verified.Claims.KeyId);
        Assert.False((await providerHost.VerifyTierTokenAsync(issued.Token, "another-provider")).IsValid);
        Assert.False((await providerHost.VerifyTierTokenAsync(issued.Token[..^4] + "AAAA", ProviderId)).IsValid);

        // The usage is in the transparency log: proven against a signed checkpoint, offline.
        var inclusion = await providerHost.VerifyInclusionAsync(receipt.LeafHash);
        Assert.Equal(receipt.LeafIndex, inclusion.LeafIndex);
        Assert.True(inclusion.Checkpoint.TreeSize > receipt.LeafIndex);

        // The log grows and stays consistent with the checkpoint verified before.
        var second = await providerHost.SignAndSubmitUsageAsync(Usage(marketplace, account.AccountId, "lease-2", TimeSpan.FromHours(1), 1_000), "key-1", providerKey);
        var latest = await oversight.VerifyConsistencyAsync(inclusion.Checkpoint);
        Assert.True(latest.TreeSize > second.LeafIndex);
        Assert.Equal(second.LeafIndex, (await oversight.VerifyInclusionAsync(second.LeafHash)).LeafIndex);
    }

    [Fact]
    public async Task Client_Refusals_AreTypedExceptionsNamingTheFieldAndReason()
    {
        var marketplace = EmbeddedHostFixture.NewMarketplace("client-errors");
        await using var marketplaceServices = await host.ClientAsync("operator", marketplace);
        await using var providerServices = await host.ClientAsync("provider", marketplace, ProviderId);
        var oversight = marketplaceServices.GetRequiredService<OversightClient>();

        // INVALID_ARGUMENT with google.rpc.BadRequest: the field is named; still an RpcException.
        var invalid = await Assert.ThrowsAsync<OversightValidationException>(() =>
            oversight.Kyc.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "not a valid id!" }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Equal("account_id", invalid.Field);
        Assert.Contains(invalid.FieldViolations, v => v.Field == "account_id" && v.Description.Length > 0);
        Assert.IsAssignableFrom<RpcException>(invalid);

        var created = (await oversight.Kyc.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace })).Account;
        await Assert.ThrowsAsync<OversightConflictException>(() =>
            oversight.Kyc.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = created.AccountId }).ResponseAsync);
        await Assert.ThrowsAsync<OversightNotFoundException>(() =>
            oversight.Kyc.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "nobody" }).ResponseAsync);
        await Assert.ThrowsAsync<OversightPermissionDeniedException>(() =>
            oversight.Kyc.GetAccountAsync(new GetAccountRequest { MarketplaceId = "another-marketplace", AccountId = created.AccountId }).ResponseAsync);

        // A signature by another key than the registered one: the reason and the field.
        using var registered = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await RegisterProviderAsync(oversight, marketplace, registered);
        var providerHost = providerServices.GetRequiredService<OversightClient>();
        var forged = await Assert.ThrowsAsync<OversightValidationException>(() =>
            providerHost.SignAndSubmitUsageAsync(Usage(marketplace, created.AccountId, "lease-x", TimeSpan.FromHours(1), 1_000), "key-1", other));
        Assert.Equal("SIGNATURE_INVALID", forged.Reason);
        Assert.Equal("signature", forged.Field);

        // No token: UNAUTHENTICATED.
        await using var anonymous = new ServiceCollection()
            .AddOversightClient(options => options.Address = new Uri(host.GrpcAddress))
            .BuildServiceProvider();
        await Assert.ThrowsAsync<OversightUnauthenticatedException>(() =>
            anonymous.GetRequiredService<OversightClient>().Kyc.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = created.AccountId }).ResponseAsync);
    }

    [Fact]
    public async Task SignAndSubmitUsage_CalledAgainWithTheSameAttestationSecondsLater_GetsTheStoredReceipt()
    {
        var marketplace = EmbeddedHostFixture.NewMarketplace("resend");
        await using var marketplaceServices = await host.ClientAsync("operator", marketplace);
        await using var providerServices = await host.ClientAsync("provider", marketplace, ProviderId);
        var oversight = marketplaceServices.GetRequiredService<OversightClient>();
        var providerHost = providerServices.GetRequiredService<OversightClient>();
        var account = (await oversight.Kyc.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace })).Account;
        using var providerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await RegisterProviderAsync(oversight, marketplace, providerKey);

        // A provider host that timed out waiting for the receipt sends the same attestation again.
        var usage = Usage(marketplace, account.AccountId, "lease-r", TimeSpan.FromHours(1), 1_000);
        var first = await providerHost.SignAndSubmitUsageAsync(usage, "key-1", providerKey);
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // into another second: a signed_at stamped anew would differ
        var again = await providerHost.SignAndSubmitUsageAsync(usage, "key-1", providerKey);

        Assert.Equal(Outcome.Accepted, again.Outcome);
        Assert.Equal(first.LeafIndex, again.LeafIndex);
        Assert.Equal(first.LeafHash, again.LeafHash);
        await using var auditorServices = await host.ClientAsync("auditor", marketplace);
        var auditor = auditorServices.GetRequiredService<OversightClient>();
        Assert.Empty((await auditor.Attestation.ListReviewItemsAsync(new ListReviewItemsRequest { MarketplaceId = marketplace })).Items);
    }

    private static Task<RegisterProviderResponse> RegisterProviderAsync(OversightClient oversight, string marketplace, ECDsa key) =>
        oversight.Attestation.RegisterProviderAsync(new RegisterProviderRequest
        {
            MarketplaceId = marketplace,
            ProviderId = ProviderId,
            KeyId = "key-1",
            PublicKeyPem = key.ExportSubjectPublicKeyInfoPem(),
            Inventory = { new AcceleratorInventory { AcceleratorModel = Model, Count = 8 } },
        }).ResponseAsync;

    private static long _sequence;

    // signed_at is left unset: SignAndSubmitUsageAsync sets it to now.
    private static UsageAttestation Usage(string marketplace, string accountId, string lease, TimeSpan duration, long flopUnits)
    {
        var end = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 5);
        return new UsageAttestation
        {
            AttestationId = "att-" + Guid.NewGuid().ToString("N"),
            MarketplaceId = marketplace,
            ProviderId = ProviderId,
            LeaseId = lease,
            AccountId = accountId,
            AcceleratorModel = Model,
            AcceleratorCount = 1,
            IntervalStart = Timestamp.FromDateTimeOffset(end - duration),
            IntervalEnd = Timestamp.FromDateTimeOffset(end),
            Final = true,
            FlopUnits = flopUnits,
            Precision = PrecisionClass.Bf16,
            WorkloadCommitment = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("salt:image-" + lease))),
            WorkloadClass = WorkloadClass.Training,
            Sequence = Interlocked.Increment(ref _sequence),
        };
    }

    private static async Task WaitForUsageAsync(OversightClient oversight, string marketplace, string accountId, long expected)
    {
        long counted = 0;
        for (var attempt = 0; attempt < 150; attempt++)
        {
            var usage = await oversight.Enforcement.GetUsageAsync(new GetUsageRequest { MarketplaceId = marketplace, AccountId = accountId });
            counted = usage.Windows.First(w => w.Window == "24h" && w.Metric == Metric.FlopUnits).Usage;
            if (counted == expected)
            {
                return;
            }

            await Task.Delay(200);
        }

        Assert.Fail($"enforcement counted {counted} of {expected} units within 30 s");
    }
}
