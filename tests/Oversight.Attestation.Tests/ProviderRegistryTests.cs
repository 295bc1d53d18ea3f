using System.Security.Cryptography;
using Grpc.Core;
using Oversight.Attestation.V1;
using Oversight.Testing;

namespace Oversight.Attestation.Tests;

/// <summary>Registering, reading, rotating and revoking provider keys; the inventory.</summary>
public sealed class ProviderRegistryTests(AttestationServerFixture fixture) : IClassFixture<AttestationServerFixture>
{
    private AttestationServer Server => fixture.Server;

    private static RegisterProviderRequest Request(string marketplace, string? pem = null) => new()
    {
        MarketplaceId = marketplace,
        ProviderId = TestServers.UniqueId("prov"),
        KeyId = "key-1",
        PublicKeyPem = pem ?? ECDsa.Create(ECCurve.NamedCurves.nistP256).ExportSubjectPublicKeyInfoPem(),
        Inventory = { new AcceleratorInventory { AcceleratorModel = "h100 sxm", Count = 8 }, new AcceleratorInventory { AcceleratorModel = "A100", Count = 4 } },
    };

    [Fact]
    public async Task RegisterProvider_ThenGetProvider_ReturnsItsKeyAndCatalogueNamedInventory()
    {
        var marketplace = TestServers.UniqueId("mkt");
        var request = Request(marketplace);

        var registered = (await Server.Client.RegisterProviderAsync(request, Server.Operator(marketplace))).Provider;
        var asProvider = (await Server.Client.GetProviderAsync(new GetProviderRequest { MarketplaceId = marketplace, ProviderId = request.ProviderId },
            Server.Host.Auth("provider", marketplace, request.ProviderId))).Provider;
        var asAuditor = (await Server.Client.GetProviderAsync(new GetProviderRequest { MarketplaceId = marketplace, ProviderId = request.ProviderId },
            Server.Host.Auth("auditor", marketplace))).Provider;

        Assert.Equal(registered, asProvider);
        Assert.Equal(registered, asAuditor);
        Assert.Equal([("H100-SXM", 8), ("A100", 4)], registered.Inventory.Select(i => (i.AcceleratorModel, i.Count)));
        var key = Assert.Single(registered.Keys);
        Assert.Equal(("key-1", request.PublicKeyPem), (key.KeyId, key.PublicKeyPem));
        Assert.Null(key.ValidUntil);
        Assert.Null(key.RevokedAt);
        Assert.Equal(0, registered.LastSequence);
    }

    [Fact]
    public async Task RegisterProvider_Twice_IsAlreadyExists()
    {
        var marketplace = TestServers.UniqueId("mkt");
        var request = Request(marketplace);
        await Server.Client.RegisterProviderAsync(request, Server.Operator(marketplace));

        await Assertions.Refused(StatusCode.AlreadyExists, () => Server.Client.RegisterProviderAsync(request, Server.Operator(marketplace)).ResponseAsync);
    }

    public static TheoryData<string> ForeignKeys()
    {
        using var rsa = RSA.Create(2048);
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var p256 = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new TheoryData<string>
        {
            rsa.ExportSubjectPublicKeyInfoPem(),
            p384.ExportSubjectPublicKeyInfoPem(),
            p256.ExportPkcs8PrivateKeyPem(),
            "not a key",
            "",
        };
    }

    [Theory]
    [MemberData(nameof(ForeignKeys))]
    public async Task RegisterProvider_WithAKeyThatIsNotAnEcdsaP256PublicKey_NamesPublicKeyPem(string pem)
    {
        var marketplace = TestServers.UniqueId("mkt");
        var e = await Assertions.Refused(StatusCode.InvalidArgument, () => Server.Client.RegisterProviderAsync(Request(marketplace, pem), Server.Operator(marketplace)).ResponseAsync);
        Assertions.NamesField(e, "public_key_pem");
    }

    [Theory]
    [InlineData("Z9000", 8, "inventory[0].accelerator_model")]
    [InlineData("H100-SXM", 0, "inventory[0].count")]
    [InlineData("H100-SXM", 100_001, "inventory[0].count")]
    public async Task RegisterProvider_WithABadInventory_NamesTheEntry(string model, int count, string field)
    {
        var marketplace = TestServers.UniqueId("mkt");
        var request = Request(marketplace);
        request.Inventory.Clear();
        request.Inventory.Add(new AcceleratorInventory { AcceleratorModel = model, Count = count });

        var e = await Assertions.Refused(StatusCode.InvalidArgument, () => Server.Client.RegisterProviderAsync(request, Server.Operator(marketplace)).ResponseAsync);
        Assertions.NamesField(e, field);
    }

    [Fact]
    public async Task RegistryCalls_FromAnotherMarketplaceOrTheWrongRole_AreDenied()
    {
        var provider = await Server.RegisterProviderAsync();
        var other = await Server.RegisterProviderAsync(provider.MarketplaceId);
        var get = new GetProviderRequest { MarketplaceId = provider.MarketplaceId, ProviderId = provider.ProviderId };

        await Assertions.Refused(StatusCode.PermissionDenied, () => Server.Client.RegisterProviderAsync(Request(provider.MarketplaceId), Server.Operator("mkt-other")).ResponseAsync);
        await Assertions.Refused(StatusCode.PermissionDenied, () => Server.Client.RegisterProviderAsync(Request(provider.MarketplaceId), Server.AuthFor(provider)).ResponseAsync);
        await Assertions.Refused(StatusCode.PermissionDenied, () => Server.Client.GetProviderAsync(get, Server.Operator("mkt-other")).ResponseAsync);
        await Assertions.Refused(StatusCode.PermissionDenied, () => Server.Client.GetProviderAsync(get, Server.AuthFor(other)).ResponseAsync);
        await Assertions.Refused(StatusCode.PermissionDenied, () => Server.Client.GetProviderAsync(get, Server.Host.Auth("compliance", provider.MarketplaceId)).ResponseAsync);
        await Assertions.Refused(StatusCode.PermissionDenied, () => Server.Client.RevokeProviderKeyAsync(new RevokeProviderKeyRequest
        { MarketplaceId = provider.MarketplaceId, ProviderId = provider.ProviderId, KeyId = provider.KeyId }, Server.AuthFor(provider)).ResponseAsync);
        await Assertions.Refused(StatusCode.NotFound, () => Server.Client.GetProviderAsync(
            new GetProviderRequest { MarketplaceId = provider.MarketplaceId, ProviderId = "prov-missing" }, Server.Operator(provider.MarketplaceId)).ResponseAsync);
    }

    [Fact]
    public async Task UpdateProviderInventory_ReplacesTheInventoryThatAttestationsAreCheckedAgainst()
    {
        var provider = await Server.RegisterProviderAsync(count: 4);
        var eight = provider.Attestation();
        var refused = await Assertions.Refused(StatusCode.InvalidArgument, () => Server.SubmitAsync(provider, eight));
        Assertions.HasReason(refused, "COUNT_ABOVE_INVENTORY");

        var updated = await Server.Client.UpdateProviderInventoryAsync(new UpdateProviderInventoryRequest
        {
            MarketplaceId = provider.MarketplaceId,
            ProviderId = provider.ProviderId,
            Inventory = { new AcceleratorInventory { AcceleratorModel = "H100-SXM", Count = 16 } },
        }, Server.Operator(provider.MarketplaceId));

        Assert.Equal(16, Assert.Single(updated.Provider.Inventory).Count);
        Assert.Equal(Outcome.Accepted, (await Server.SubmitAsync(provider, provider.Attestation())).Outcome);
    }

    [Fact]
    public async Task RotateAndRevoke_RefuseDuplicatesAndUnknownKeys_AndRevocationOnlyMovesEarlier()
    {
        var provider = await Server.RegisterProviderAsync();
        var auth = Server.Operator(provider.MarketplaceId);
        var rotate = new RotateProviderKeyRequest
        {
            MarketplaceId = provider.MarketplaceId,
            ProviderId = provider.ProviderId,
            NewKeyId = provider.KeyId,
            NewPublicKeyPem = ECDsa.Create(ECCurve.NamedCurves.nistP256).ExportSubjectPublicKeyInfoPem(),
        };
        await Assertions.Refused(StatusCode.AlreadyExists, () => Server.Client.RotateProviderKeyAsync(rotate, auth).ResponseAsync);
        rotate.NewKeyId = "key-2";
        rotate.OverlapSeconds = -1;
        Assertions.NamesField(await Assertions.Refused(StatusCode.InvalidArgument, () => Server.Client.RotateProviderKeyAsync(rotate, auth).ResponseAsync), "overlap_seconds");

        var revoke = new RevokeProviderKeyRequest { MarketplaceId = provider.MarketplaceId, ProviderId = provider.ProviderId, KeyId = "key-9" };
        await Assertions.Refused(StatusCode.NotFound, () => Server.Client.RevokeProviderKeyAsync(revoke, auth).ResponseAsync);

        var early = DateTimeOffset.UtcNow.AddHours(-1);
        revoke.KeyId = provider.KeyId;
        revoke.RevokedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(early);
        await Server.Client.RevokeProviderKeyAsync(revoke, auth);
        revoke.RevokedAt = null; // "now": later than the first revocation, so it changes nothing
        var provider2 = (await Server.Client.RevokeProviderKeyAsync(revoke, auth)).Provider;

        Assert.Equal(early.ToUnixTimeSeconds(), Assert.Single(provider2.Keys).RevokedAt.Seconds);
    }
}
