using System.Security.Cryptography;
using Grpc.Core;
using Oversight.Attestation.V1;
using Oversight.Signing;

namespace Oversight.Attestation.Tests;

public sealed class ExportAttestationsTests
{
    private static async Task<List<ExportAttestationsResponse>> Export(AttestationServer server, ExportAttestationsRequest request, Metadata auth)
    {
        using var call = server.Client.ExportAttestations(request, auth);
        var all = new List<ExportAttestationsResponse>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            all.Add(call.ResponseStream.Current);
        }

        return all;
    }

    [Fact]
    public async Task Export_FiltersByMarketplaceAndAccount_InLedgerOrderAfterAPosition()
    {
        // Small pages so that paging is exercised too.
        await using var server = await AttestationServer.StartAsync(settings: new Dictionary<string, string?> { ["Oversight:Attestation:ExportPageSize"] = "2" });
        var m1 = await server.RegisterProviderAsync();
        var m2 = await server.RegisterProviderAsync();
        var submitted = new List<UsageAttestation>();
        foreach (var (provider, account) in new[] { (m1, "acct-a"), (m2, "acct-a"), (m1, "acct-b"), (m1, "acct-a"), (m1, "acct-c"), (m1, "acct-a") })
        {
            var a = provider.Attestation(account);
            await server.SubmitAsync(provider, a);
            submitted.Add(a);
        }

        var auditor = server.Host.Auth("auditor", m1.MarketplaceId);
        var all = await Export(server, new ExportAttestationsRequest { MarketplaceId = m1.MarketplaceId }, auditor);
        Assert.Equal([1L, 3, 4, 5, 6], all.Select(r => r.Position));
        Assert.All(all, r => Assert.Equal(m1.MarketplaceId, r.Attestation.MarketplaceId));
        Assert.Equal(submitted[2], all[1].Attestation);
        // What is exported verifies against the provider's key: the ledger keeps the signed fields exactly.
        Assert.All(all, r => Assert.Equal(r.Position - 1, r.Receipt.LeafIndex));

        var accountA = await Export(server, new ExportAttestationsRequest { MarketplaceId = m1.MarketplaceId, AccountIds = { "acct-a" } }, auditor);
        Assert.Equal([1L, 4, 6], accountA.Select(r => r.Position));

        var after = await Export(server, new ExportAttestationsRequest { MarketplaceId = m1.MarketplaceId, AfterPosition = 3, AccountIds = { "acct-a", "acct-c" } }, auditor);
        Assert.Equal([4L, 5, 6], after.Select(r => r.Position));

        var limited = await Export(server, new ExportAttestationsRequest { MarketplaceId = m1.MarketplaceId, AfterPosition = 1, Limit = 3 }, auditor);
        Assert.Equal([3L, 4, 5], limited.Select(r => r.Position));

        var service = await Export(server, new ExportAttestationsRequest { AccountIds = { "acct-a" } }, server.Host.Auth("service"));
        Assert.Equal([1L, 2, 4, 6], service.Select(r => r.Position));
    }

    [Fact]
    public async Task Export_ReturnsAttestationsWhoseCanonicalBytesStillVerify()
    {
        await using var server = await AttestationServer.StartAsync(sqlite: true);
        var provider = await server.RegisterProviderAsync();
        var request = provider.Sign(provider.Attestation());
        await server.Client.SubmitAttestationAsync(request, server.AuthFor(provider));

        var exported = Assert.Single(await Export(server, new ExportAttestationsRequest(), server.Host.Auth("service")));

        Assert.Equal(request.Attestation, exported.Attestation);
        Assert.True(AttestationSignature.Verify(exported.Attestation, request.Signature.Span, provider.Key));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData([0x00, .. AttestationCanonicalForm.Encode(exported.Attestation), .. request.Signature.Span])), exported.Receipt.LeafHash);
        // The export carries what an auditor needs to recompute the leaf hash on its own.
        Assert.Equal(request.KeyId, exported.KeyId);
        Assert.Equal(request.Signature, exported.Signature);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData([0x00, .. AttestationCanonicalForm.Encode(exported.Attestation), .. exported.Signature.Span])), exported.Receipt.LeafHash);
    }

    [Fact]
    public async Task Export_ByAnAuditorOfAnotherMarketplaceOrAnOperator_IsRefused()
    {
        await using var server = await AttestationServer.StartAsync(sqlite: true);
        var provider = await server.RegisterProviderAsync();
        await server.SubmitAsync(provider, provider.Attestation());

        await Assertions.Refused(StatusCode.PermissionDenied, () => Export(server, new ExportAttestationsRequest { MarketplaceId = provider.MarketplaceId }, server.Host.Auth("auditor", "mkt-other")));
        await Assertions.Refused(StatusCode.PermissionDenied, () => Export(server, new ExportAttestationsRequest { MarketplaceId = provider.MarketplaceId }, server.Operator(provider.MarketplaceId)));
        var missing = await Assertions.Refused(StatusCode.InvalidArgument, () => Export(server, new ExportAttestationsRequest(), server.Host.Auth("auditor", provider.MarketplaceId)));
        Assertions.NamesField(missing, "marketplace_id");
        var negative = await Assertions.Refused(StatusCode.InvalidArgument, () => Export(server, new ExportAttestationsRequest { AfterPosition = -1 }, server.Host.Auth("service")));
        Assertions.NamesField(negative, "after_position");
        var badAccount = await Assertions.Refused(StatusCode.InvalidArgument, () => Export(server, new ExportAttestationsRequest { AccountIds = { "ok", "not ok" } }, server.Host.Auth("service")));
        Assertions.NamesField(badAccount, "account_ids[1]");
    }
}
