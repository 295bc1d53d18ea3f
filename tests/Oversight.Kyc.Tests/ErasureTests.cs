using System.Security.Cryptography;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Contracts;
using Oversight.Hosting.Auth;
using Oversight.Kyc.Purposes;
using Oversight.Kyc.V1;

namespace Oversight.Kyc.Tests;

/// <summary>Erasure (issue 4, item 7): the data key is shredded, purpose and blind indexes go, pseudonymous records stay.</summary>
public class ErasureTests(KycHostFixture fixture) : IClassFixture<KycHostFixture>
{
    private const string Text = "Training a speech model on recordings of Carol Sample, carol.sample@example.net";

    private KycTiering.KycTieringClient Client => fixture.Client;

    private EraseAccountRequest Erase(string marketplace, string account, string reason = "data subject request 12") =>
        new() { MarketplaceId = marketplace, AccountId = account, Reason = reason };

    [Fact]
    public async Task EraseAccount_ShredsTheKeyAndDeletesPurposeAndBlindIndexes_KeepingPseudonymousRecords()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "gone", "twin");
        await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "gone", Category = PurposeCategory.FineTuning, Text = Text }, op);
        await fixture.ApproveIdentityAsync(marketplace, op, "gone", "DOC-5544332");
        await fixture.ApproveIdentityAsync(marketplace, op, "twin", "DOC-5544332");
        var lateSession = await fixture.StartIdentityAsync(marketplace, op, "gone");

        // Before: whoever holds the key-encryption key can open the text.
        await using (var before = fixture.NewDbContext())
        {
            var crypto = fixture.Host.Services.GetRequiredService<KycCrypto>();
            var key = await before.AccountKeys.AsNoTracking().SingleAsync(k => k.MarketplaceId == marketplace && k.AccountId == "gone");
            var purpose = await before.StatedPurposes.AsNoTracking().SingleAsync(p => p.MarketplaceId == marketplace && p.AccountId == "gone");
            var dataKey = crypto.Unwrap(key);
            Assert.Equal(Text, KycCrypto.Open(dataKey, key, KycCrypto.PurposeTextField, new SealedField(purpose.Ciphertext!, purpose.Nonce!, purpose.Tag!), purpose.DataKeyVersion));
        }

        var compliance = fixture.Auth(Roles.Compliance, marketplace);
        var erased = await Client.EraseAccountAsync(Erase(marketplace, "gone"), compliance);

        Assert.NotNull(erased.ErasedAt);
        var account = await fixture.AccountAsync(marketplace, "gone");
        Assert.True(account.Erased);
        Assert.Equal(("anonymous", PurposeCategory.Unspecified), (account.Tier.Id, account.PurposeCategory));
        Assert.Null(account.TierExpiresAt);
        Assert.Equal(("account erased", "compliance:test-compliance"), (account.History.Last().Reason, account.History.Last().Actor));
        Assert.Equal(["created", "purpose stated", "identity verified", "account erased"], account.History.Select(h => h.Reason));
        // The link stays: it holds pseudonyms only, and the shared budget must not be escaped by erasure.
        Assert.Equal("gone", (await fixture.AccountAsync(marketplace, "twin")).ClusterRoot);

        await using var db = fixture.NewDbContext();
        Assert.False(await db.AccountKeys.AnyAsync(k => k.MarketplaceId == marketplace && k.AccountId == "gone"));
        Assert.False(await db.StatedPurposes.AnyAsync(p => p.MarketplaceId == marketplace && p.AccountId == "gone"));
        var verifications = await db.Verifications.AsNoTracking().Where(v => v.MarketplaceId == marketplace && v.AccountId == "gone").ToListAsync();
        Assert.All(verifications, v => Assert.Null(v.BlindIndex));
        Assert.Contains(verifications, v => v.Status == "APPROVED");
        Assert.NotNull((await db.Verifications.AsNoTracking().SingleAsync(v => v.MarketplaceId == marketplace && v.AccountId == "twin")).BlindIndex);
        var audit = await db.AuditEvents.AsNoTracking().SingleAsync(a => a.MarketplaceId == marketplace && a.Action == "account.erased");
        Assert.Equal(("gone", "compliance:test-compliance", "data subject request 12"), (audit.AccountId, audit.Actor, audit.Reason));
        Assert.Equal("gone", Assert.Single(await fixture.OutboxEventsAsync<AccountErased>(marketplace, "gone")).AccountId);
        var stepDown = (await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "gone")).Last();
        Assert.Equal((0, "account erased", (string?)null), (stepDown.ToLevel, stepDown.Reason, stepDown.PurposeCategory));
        await KycHostFixture.EventuallyAsync(() => Task.FromResult(fixture.Events.Of<AccountErased>(marketplace).Any()), "AccountErased on the bus");

        // Later: nothing can be read, stated, verified or vouched for; a late approval brings no blind index back.
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "gone", Reason = "after erasure" }, fixture.Auth(Roles.Auditor, marketplace)), "erased");
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "gone", Category = PurposeCategory.Other, Text = "again" }, op), "erased");
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Client.StartIdentityVerificationAsync(new StartIdentityVerificationRequest { MarketplaceId = marketplace, AccountId = "gone" }, op), "erased");
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Client.StartOrganisationVerificationAsync(new StartOrganisationVerificationRequest { MarketplaceId = marketplace, AccountId = "gone" }, op), "erased");
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Client.IssueTierTokenAsync(new IssueTierTokenRequest { MarketplaceId = marketplace, AccountId = "gone", Audience = "p" }, op), "erased");
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, () => Client.EraseAccountAsync(Erase(marketplace, "gone"), compliance), "already erased");
        var late = await fixture.SubmitAsync(Results.Identity(lateSession, "late", "approved", DateTimeOffset.UtcNow, "DOC-5544332"));
        Assert.False(late.Applied);
        Assert.Equal("anonymous", late.Tier.Id);
        Assert.False(await db.Verifications.AnyAsync(v => v.MarketplaceId == marketplace && v.AccountId == "gone" && v.BlindIndex != null));
    }

    [Fact]
    public async Task EraseAccount_ByAnAdmin_OfAnAccountWithoutData_StillPublishesAccountErased()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "bare");

        await Client.EraseAccountAsync(Erase(marketplace, "bare"), fixture.Auth(Roles.Admin, marketplace));

        Assert.Single(await fixture.OutboxEventsAsync<AccountErased>(marketplace, "bare"));
        Assert.Empty(await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "bare"));
    }

    [Fact]
    public async Task EraseAccount_WithBadInputOrWrongCaller_FailsPreciselyAndChangesNothing()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "keep");
        await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "keep", Category = PurposeCategory.Research, Text = "kept" }, op);
        var compliance = fixture.Auth(Roles.Compliance, marketplace);
        var before = await fixture.CountRowsAsync();

        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.EraseAccountAsync(Erase(marketplace, "keep", ""), compliance), "reason");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.EraseAccountAsync(Erase(marketplace, "keep", new string('r', 501)), compliance), "reason");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.EraseAccountAsync(Erase(marketplace, "no/slash"), compliance), "account_id");
        await RpcAssert.FailsAsync(StatusCode.NotFound, () => Client.EraseAccountAsync(Erase(marketplace, "ghost"), compliance), "ghost");
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.EraseAccountAsync(Erase(marketplace, "keep"), op));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.EraseAccountAsync(Erase(marketplace, "keep"), fixture.Auth(Roles.Auditor, marketplace)));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.EraseAccountAsync(Erase(marketplace, "keep"), fixture.Auth(Roles.Compliance, "other-marketplace")));

        Assert.Equal(before, await fixture.CountRowsAsync());
        var read = await Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "keep", Reason = "still there" }, fixture.Auth(Roles.Auditor, marketplace));
        Assert.Equal("kept", read.Text);
    }

    [Fact]
    public void ShreddedKey_CannotBeReplacedByAnother_TheCiphertextIsBoundToItsKey()
    {
        // What erasure relies on: AES-GCM with a fresh random data key; another key opens nothing.
        var crypto = fixture.Host.Services.GetRequiredService<KycCrypto>();
        var (dataKey, record) = crypto.CreateDataKey("m", "a", DateTimeOffset.UtcNow);
        var sealedField = KycCrypto.Seal(dataKey, record, KycCrypto.PurposeTextField, Text);
        var (otherKey, _) = crypto.CreateDataKey("m", "a", DateTimeOffset.UtcNow);

        Assert.ThrowsAny<CryptographicException>(() => KycCrypto.Open(otherKey, record, KycCrypto.PurposeTextField, sealedField, record.DataKeyVersion));
    }
}
