using System.Text;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Oversight.Contracts;
using Oversight.Kyc.V1;
using Oversight.Kyc.Verification;

namespace Oversight.Kyc.Tests;

public class IdentityVerificationTests(KycHostFixture fixture) : IClassFixture<KycHostFixture>
{
    private const string DocumentNumber = "X9-8765-4321";

    private KycTiering.KycTieringClient Client => fixture.Client;

    private async Task<(string Marketplace, string SessionRef)> SessionAsync(bool statePurpose = false)
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "v" }, op);
        if (statePurpose)
        {
            await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "v", Category = PurposeCategory.PreTraining, Text = "pre-training" }, op);
        }

        var session = await Client.StartIdentityVerificationAsync(new StartIdentityVerificationRequest { MarketplaceId = marketplace, AccountId = "v" }, op);
        Assert.Equal("simulated", session.Provider);
        return (marketplace, session.SessionRef);
    }

    private static VerificationPayload.Document Result(string sessionRef, string eventId, string status, DateTimeOffset occurredAt, string? documentNumber = null) =>
        // Provider event ids are unique per provider, across sessions: prefix them with the session.
        new($"{sessionRef}-{eventId}", sessionRef, status, "substantial", occurredAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture), documentNumber);

    private Task<GetAccountResponse> GetAsync(string marketplace) =>
        Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "v" }, fixture.Auth("service", null)).ResponseAsync;

    [Fact]
    public async Task SubmitVerificationResult_Approved_MovesToIdentityVerifiedAndPublishesTierChanged()
    {
        var (marketplace, sessionRef) = await SessionAsync(statePurpose: true);
        var occurredAt = DateTimeOffset.UtcNow.AddMinutes(-1);

        var response = await Client.SubmitVerificationResultAsync(fixture.Signed(Result(sessionRef, "evt-1", "approved", occurredAt, DocumentNumber)));

        Assert.True(response.Applied);
        Assert.Equal(VerificationStatus.Approved, response.Status);
        Assert.Equal("identity_verified", response.Tier.Id);
        var account = (await GetAsync(marketplace)).Account;
        Assert.Equal(2, account.Tier.Level);
        Assert.NotNull(account.TierExpiresAt);
        Assert.InRange(account.TierExpiresAt.ToDateTimeOffset(), occurredAt.AddDays(364), occurredAt.AddDays(366));
        Assert.Equal(("identity verified", "provider:simulated"), (account.History.Last().Reason, account.History.Last().Actor));

        var changes = await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "v");
        Assert.Equal([1L, 2L], changes.Select(c => (long)c.ToLevel));
        Assert.Equal([2L, 3L], changes.Select(c => c.Sequence));
        Assert.Equal(("IDENTITY", "PRE_TRAINING"), (changes[1].Requirement, changes[1].PurposeCategory));

        // The document number is kept only as a keyed blind index.
        await using var db = fixture.NewDbContext();
        var verification = await db.Verifications.AsNoTracking().SingleAsync(v => v.SessionRef == sessionRef);
        Assert.Matches("^[0-9a-f]{64}$", verification.BlindIndex!);
        Assert.Equal("b1", verification.BlindIndexKeyVersion);
        var digits = Convert.ToHexStringLower(Encoding.UTF8.GetBytes(DocumentNumber));
        Assert.All(await fixture.DumpRowsAsync(), row =>
        {
            Assert.DoesNotContain(DocumentNumber, row, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(digits, row, StringComparison.OrdinalIgnoreCase);
        });
    }

    [Fact]
    public async Task SubmitVerificationResult_FromAnonymous_JumpsStraightToIdentityVerified()
    {
        var (marketplace, sessionRef) = await SessionAsync();

        await Client.SubmitVerificationResultAsync(fixture.Signed(Result(sessionRef, "evt-1", "approved", DateTimeOffset.UtcNow)));

        var change = Assert.Single(await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "v"));
        Assert.Equal((0, 2), (change.FromLevel, change.ToLevel));
    }

    [Fact]
    public async Task SubmitVerificationResult_TheSameEventTwice_AppliesOnce()
    {
        var (marketplace, sessionRef) = await SessionAsync();
        var request = fixture.Signed(Result(sessionRef, "evt-dup", "approved", DateTimeOffset.UtcNow));
        Assert.True((await Client.SubmitVerificationResultAsync(request)).Applied);
        var before = await fixture.CountRowsAsync();

        var again = await Client.SubmitVerificationResultAsync(request);

        Assert.False(again.Applied);
        Assert.Equal(VerificationStatus.Approved, again.Status);
        Assert.Equal(before, await fixture.CountRowsAsync());
        Assert.Single(await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "v"));
    }

    [Fact]
    public async Task SubmitVerificationResult_PendingOrFailedAfterApproved_NeverDowngrades()
    {
        var (marketplace, sessionRef) = await SessionAsync();
        var now = DateTimeOffset.UtcNow;
        await Client.SubmitVerificationResultAsync(fixture.Signed(Result(sessionRef, "evt-approved", "approved", now.AddMinutes(-2))));

        var olderPending = await Client.SubmitVerificationResultAsync(fixture.Signed(Result(sessionRef, "evt-pending", "pending", now.AddMinutes(-3))));
        var newerFailed = await Client.SubmitVerificationResultAsync(fixture.Signed(Result(sessionRef, "evt-failed", "failed", now.AddMinutes(-1))));

        Assert.False(olderPending.Applied);
        Assert.False(newerFailed.Applied);
        Assert.Equal(VerificationStatus.Approved, newerFailed.Status);
        Assert.Equal("identity_verified", (await GetAsync(marketplace)).Account.Tier.Id);
        await using var db = fixture.NewDbContext();
        Assert.Equal("APPROVED", (await db.Verifications.AsNoTracking().SingleAsync(v => v.SessionRef == sessionRef)).Status);
    }

    [Fact]
    public async Task SubmitVerificationResult_AnOlderResult_NeverOverridesANewerOne()
    {
        var (marketplace, sessionRef) = await SessionAsync();
        var now = DateTimeOffset.UtcNow;

        Assert.True((await Client.SubmitVerificationResultAsync(fixture.Signed(Result(sessionRef, "evt-2", "failed", now.AddMinutes(-1))))).Applied);
        var older = await Client.SubmitVerificationResultAsync(fixture.Signed(Result(sessionRef, "evt-1", "pending", now.AddMinutes(-2))));

        Assert.False(older.Applied);
        Assert.Equal(VerificationStatus.Failed, older.Status);
        Assert.Equal("anonymous", (await GetAsync(marketplace)).Account.Tier.Id);
    }

    [Fact]
    public async Task SubmitVerificationResult_AnOlderApprovalAfterANewerFailure_Applies_SoArrivalOrderDoesNotMatter()
    {
        var (marketplace, sessionRef) = await SessionAsync();
        var now = DateTimeOffset.UtcNow;

        await Client.SubmitVerificationResultAsync(fixture.Signed(Result(sessionRef, "evt-2", "failed", now.AddMinutes(-1))));
        var olderApproval = await Client.SubmitVerificationResultAsync(fixture.Signed(Result(sessionRef, "evt-1", "approved", now.AddMinutes(-2))));

        // In time order the approval would have come first and stuck; delivery order must not change that.
        Assert.True(olderApproval.Applied);
        Assert.Equal("identity_verified", (await GetAsync(marketplace)).Account.Tier.Id);
    }

    [Fact]
    public async Task SubmitVerificationResult_SignedWithTheSecondRotationSecret_IsAccepted()
    {
        var (_, sessionRef) = await SessionAsync();

        var response = await Client.SubmitVerificationResultAsync(fixture.Signed(Result(sessionRef, "evt-s2", "approved", DateTimeOffset.UtcNow), secretId: KycHostFixture.SecretId2));

        Assert.True(response.Applied);
    }

    [Fact]
    public async Task SubmitVerificationResult_BadlySignedStaleOrUnknown_IsUnauthenticatedAndChangesNothing()
    {
        var (marketplace, sessionRef) = await SessionAsync();
        var result = Result(sessionRef, "evt-x", "approved", DateTimeOffset.UtcNow);
        var before = await fixture.CountRowsAsync();

        var good = fixture.Signed(result);
        var tampered = good.Clone();
        tampered.Payload = Google.Protobuf.ByteString.CopyFrom(good.Payload.ToByteArray().Select(b => b == (byte)'a' ? (byte)'b' : b).ToArray());
        var wrongSignature = good.Clone();
        wrongSignature.Signature = new string('0', 64);
        var notHex = good.Clone();
        notHex.Signature = "not-hex";
        var otherTimestamp = good.Clone();
        otherTimestamp.TimestampUnixSeconds += 1;
        var unknownProvider = good.Clone();
        unknownProvider.Provider = "acme-kyc";

        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.SubmitVerificationResultAsync(tampered), "signature");
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.SubmitVerificationResultAsync(wrongSignature), "signature");
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.SubmitVerificationResultAsync(notHex), "signature");
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.SubmitVerificationResultAsync(otherTimestamp), "signature");
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.SubmitVerificationResultAsync(unknownProvider), "provider");
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.SubmitVerificationResultAsync(fixture.Signed(result, DateTimeOffset.UtcNow.AddMinutes(-6))), "replay window");
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.SubmitVerificationResultAsync(fixture.Signed(result, DateTimeOffset.UtcNow.AddMinutes(6))), "replay window");
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.SubmitVerificationResultAsync(fixture.Signed(result, secretId: "retired", secret: fixture.Secret1)), "secret_id");
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.SubmitVerificationResultAsync(fixture.Signed(result, secretId: KycHostFixture.SecretId1, secret: "a guessed secret value")), "signature");

        Assert.Equal(before, await fixture.CountRowsAsync());
        Assert.Equal("anonymous", (await GetAsync(marketplace)).Account.Tier.Id);
    }

    [Fact]
    public async Task SubmitVerificationResult_MalformedPayloadOrUnknownSession_FailsNamingTheProblemAndChangesNothing()
    {
        var (_, sessionRef) = await SessionAsync();
        var before = await fixture.CountRowsAsync();
        SubmitVerificationResultRequest SignedBytes(string json)
        {
            var bytes = Encoding.UTF8.GetBytes(json);
            var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            return KycHostFixture.ToRequest(new SignedCallback("simulated", bytes, timestamp,
                CallbackSignature.ComputeHex(Encoding.UTF8.GetBytes(fixture.Secret1), timestamp, bytes), KycHostFixture.SecretId1));
        }

        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.SubmitVerificationResultAsync(SignedBytes("{not json")), "payload");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.SubmitVerificationResultAsync(SignedBytes("")), "payload");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.SubmitVerificationResultAsync(SignedBytes("[1,2]")), "payload");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.SubmitVerificationResultAsync(SignedBytes(
            $$"""{"event_id":"e","session_ref":"{{sessionRef}}","status":"maybe","occurred_at":"2026-01-01T00:00:00Z"}""")), "status");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.SubmitVerificationResultAsync(SignedBytes(
            $$"""{"event_id":"e","session_ref":"{{sessionRef}}","status":"approved","occurred_at":"2026-01-01T00:00:00"}""")), "occurred_at");
        var secretDocument = Assert.IsType<RpcException>(await Record.ExceptionAsync(() => Client.SubmitVerificationResultAsync(SignedBytes(
            $$"""{"event_id":"","session_ref":"{{sessionRef}}","status":"approved","occurred_at":"2026-01-01T00:00:00Z","document_number":"{{DocumentNumber}}"}""")).ResponseAsync));
        Assert.Contains("event_id", secretDocument.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(DocumentNumber, secretDocument.Status.Detail, StringComparison.Ordinal);
        await RpcAssert.FailsAsync(StatusCode.NotFound, () => Client.SubmitVerificationResultAsync(fixture.Signed(Result("sim_unknown", "evt-u", "approved", DateTimeOffset.UtcNow))), "session_ref");

        Assert.Equal(before, await fixture.CountRowsAsync());
    }

    [Fact]
    public async Task SubmitVerificationResult_DatedInTheFuture_IsInvalidAndChangesNothing_SoLaterRealResultsStillApply()
    {
        var (marketplace, sessionRef) = await SessionAsync();
        var before = await fixture.CountRowsAsync();

        // Beyond the replay window (300 s): a result cannot have happened yet.
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument,
            () => Client.SubmitVerificationResultAsync(fixture.Signed(Result(sessionRef, "evt-future", "approved", DateTimeOffset.UtcNow.AddDays(1), DocumentNumber))), "occurred_at");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument,
            () => Client.SubmitVerificationResultAsync(fixture.Signed(Result(sessionRef, "evt-2099", "approved", new DateTimeOffset(2099, 1, 1, 0, 0, 0, TimeSpan.Zero), DocumentNumber))), "occurred_at");
        Assert.Equal(before, await fixture.CountRowsAsync());

        // A provider clock a little ahead is tolerated, and the real failure after it still ranks by time.
        var applied = await Client.SubmitVerificationResultAsync(fixture.Signed(Result(sessionRef, "evt-failed", "failed", DateTimeOffset.UtcNow.AddSeconds(60))));
        Assert.True(applied.Applied);
        Assert.Equal("anonymous", (await GetAsync(marketplace)).Account.Tier.Id);
    }

    [Fact]
    public async Task StartIdentityVerification_ForAnUnknownAccount_IsNotFound()
    {
        var (marketplace, op) = fixture.NewMarketplace();

        await RpcAssert.FailsAsync(StatusCode.NotFound, () => Client.StartIdentityVerificationAsync(new StartIdentityVerificationRequest { MarketplaceId = marketplace, AccountId = "ghost" }, op));
    }
}
