using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Oversight.Attestation.V1;
using Oversight.Contracts;

namespace Oversight.Attestation.Tests;

/// <summary>Submissions that are stored: receipts, idempotency, conflicts, flags, the outbox. Each test has its own database.</summary>
public sealed class SubmitAttestationTests
{
    [Fact]
    public async Task Submit_ValidAttestation_IsAcceptedAtLeafZeroWithTheLeafHashOfItsCanonicalBytesAndSignature()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        var a = provider.Attestation();
        var request = provider.Sign(a);

        var receipt = (await server.Client.SubmitAttestationAsync(request, server.AuthFor(provider))).Receipt;

        // The canonical bytes, written out here independently of the service's encoder.
        static string T(Google.Protobuf.WellKnownTypes.Timestamp t) => t.ToDateTimeOffset().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var expected = "oversight.attestation.v1\n" +
            $"attestation_id={a.AttestationId}\nmarketplace_id={a.MarketplaceId}\nprovider_id={a.ProviderId}\n" +
            $"lease_id={a.LeaseId}\naccount_id=acct-1\naccelerator_model=H100-SXM\naccelerator_count=8\n" +
            $"interval_start={T(a.IntervalStart)}\ninterval_end={T(a.IntervalEnd)}\nfinal=true\nflop_units=8544960\n" +
            $"precision=BF16\nworkload_commitment={a.WorkloadCommitment}\nworkload_class=TRAINING\n" +
            $"signed_at={T(a.SignedAt)}\nsequence=1\n";
        var leaf = Encoding.UTF8.GetBytes(expected).Concat(request.Signature.ToByteArray()).ToArray();
        var leafHash = Convert.ToHexStringLower(SHA256.HashData([0x00, .. leaf]));

        Assert.Equal(Outcome.Accepted, receipt.Outcome);
        Assert.Empty(receipt.ReasonCodes);
        Assert.Equal(0, receipt.LeafIndex);
        Assert.Equal(leafHash, receipt.LeafHash);
        Assert.Equal("appraisal-2026-11", receipt.AppraisalPolicyVersion);
        Assert.Equal(0, receipt.SequenceGap);
        Assert.Equal(0.3, receipt.ImpliedUtilisation, 6);
        Assert.Equal(a.AttestationId, receipt.AttestationId);

        var stored = await server.WithDbAsync(db => db.Ledger.SingleAsync());
        Assert.Equal(expected, Encoding.UTF8.GetString(stored.CanonicalBytes));
        Assert.Equal(1, stored.Position);
        Assert.Equal(8 * 3600, stored.GpuSeconds);
        var state = await server.WithDbAsync(db => db.LogState.SingleAsync());
        Assert.Equal(1, state.TreeSize);
        // A one-leaf tree's root is its leaf hash (RFC 6962).
        Assert.Equal(leafHash, Convert.ToHexStringLower(state.RootHash));

        var got = await server.Client.GetAttestationAsync(new GetAttestationRequest { AttestationId = a.AttestationId }, server.AuthFor(provider));
        Assert.Equal(a, got.Attestation);
        Assert.Equal(receipt, got.Receipt);
    }

    [Fact]
    public async Task Submit_SameAttestationTwice_ReturnsTheSameReceiptAndStoresItOnce()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        var request = provider.Sign(provider.Attestation());

        var first = (await server.Client.SubmitAttestationAsync(request, server.AuthFor(provider))).Receipt;
        var second = (await server.Client.SubmitAttestationAsync(request, server.AuthFor(provider))).Receipt;
        // Signed again: ECDSA gives another signature over the same bytes; still a retry.
        var resigned = provider.Sign(request.Attestation);
        Assert.NotEqual(request.Signature, resigned.Signature);
        var third = (await server.Client.SubmitAttestationAsync(resigned, server.AuthFor(provider))).Receipt;

        Assert.Equal(first, second);
        Assert.Equal(first, third);
        var snapshot = await server.SnapshotAsync();
        Assert.Equal(new StoreSnapshot(1, 1, snapshot.RootHex, 1, 0), snapshot);
    }

    [Fact]
    public async Task Submit_SameIdWithDifferentBytes_IsAlreadyExistsAndRecordedForReviewOnly()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        var original = provider.Attestation();
        await server.SubmitAsync(provider, original);
        var before = await server.SnapshotAsync();

        var changed = original.Clone();
        changed.FlopUnits += 1;
        changed.Sequence = provider.NextSequence();
        var e = await Assertions.Refused(StatusCode.AlreadyExists, () => server.SubmitAsync(provider, changed));

        Assertions.HasReason(e, "DUPLICATE_ID_DIFFERENT_BYTES");
        var after = await server.SnapshotAsync();
        Assert.Equal(before with { ReviewRows = before.ReviewRows + 1 }, after);
        var review = await server.WithDbAsync(db => db.ReviewItems.SingleAsync());
        Assert.Equal(("DUPLICATE_ID_DIFFERENT_BYTES", original.AttestationId, provider.ProviderId), (review.ReasonCode, review.AttestationId, review.ProviderId));
    }

    [Fact]
    public async Task Submit_ReusedSequenceWithANewId_IsAlreadyExistsAndRecordedForReviewOnly()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        var first = provider.Attestation();
        await server.SubmitAsync(provider, first);
        var before = await server.SnapshotAsync();

        var e = await Assertions.Refused(StatusCode.AlreadyExists, () => server.SubmitAsync(provider, provider.Attestation(sequence: first.Sequence)));

        Assertions.HasReason(e, "SEQUENCE_REUSED");
        Assert.Equal(before with { ReviewRows = before.ReviewRows + 1 }, await server.SnapshotAsync());
    }

    [Fact]
    public async Task Submit_SequenceGap_IsAcceptedAndReportedInTheReceipt()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        await server.SubmitAsync(provider, provider.Attestation(sequence: 1));

        var receipt = await server.SubmitAsync(provider, provider.Attestation(sequence: 5));
        // Out of order but never used: accepted without a gap.
        var late = await server.SubmitAsync(provider, provider.Attestation(sequence: 3));

        Assert.Equal((Outcome.Accepted, 3L), (receipt.Outcome, receipt.SequenceGap));
        Assert.Equal((Outcome.Accepted, 0L), (late.Outcome, late.SequenceGap));
        var registered = await server.Client.GetProviderAsync(new GetProviderRequest { MarketplaceId = provider.MarketplaceId, ProviderId = provider.ProviderId }, server.Operator(provider.MarketplaceId));
        Assert.Equal(5, registered.Provider.LastSequence);
    }

    [Fact]
    public async Task Submit_UtilisationAboveTheCeiling_IsFlaggedStoredLoggedAndPublished()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        var a = provider.Attestation();
        a.FlopUnits = 8 * 989 * 3600 * 9 / 10; // 90 % of peak

        var receipt = await server.SubmitAsync(provider, a);

        Assert.Equal(Outcome.Flagged, receipt.Outcome);
        Assert.Equal(["UTILISATION_ABOVE_CEILING"], receipt.ReasonCodes);
        Assert.Equal(0.9, receipt.ImpliedUtilisation, 6);
        var snapshot = await server.SnapshotAsync();
        Assert.Equal((1, 1L, 1), (snapshot.LedgerRows, snapshot.TreeSize, snapshot.OutboxRows));
        var evt = await PublishedEventAsync(server);
        Assert.Equal("FLAGGED", evt.Outcome);
    }

    [Fact]
    public async Task Submit_Accepted_PublishesUsageAttestedThroughTheOutbox()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        var a = provider.Attestation(accountId: "acct-77");

        var receipt = await server.SubmitAsync(provider, a);

        var evt = await PublishedEventAsync(server);
        Assert.Equal(a.AttestationId, evt.AttestationId);
        Assert.Equal((provider.MarketplaceId, provider.ProviderId, a.LeaseId, "acct-77"), (evt.MarketplaceId, evt.ProviderId, evt.LeaseId, evt.AccountId));
        Assert.Equal((8_544_960L, 8L * 3600, "BF16", "TRAINING", "ACCEPTED"), (evt.FlopUnits, evt.GpuSeconds, evt.Precision, evt.WorkloadClass, evt.Outcome));
        Assert.Equal((receipt.LeafIndex, receipt.LeafHash, 1L), (evt.LeafIndex, evt.LeafHash, evt.LedgerPosition));
        Assert.Equal(a.IntervalEnd.ToDateTimeOffset(), evt.IntervalEnd);
        Assert.True(evt.Final);
    }

    [Fact]
    public async Task Submit_ByAnotherProviderOrForAnotherMarketplaceOrByAnOperator_IsPermissionDenied()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        var other = await server.RegisterProviderAsync(provider.MarketplaceId);
        var request = provider.Sign(provider.Attestation());

        await Assertions.Refused(StatusCode.PermissionDenied, () => server.Client.SubmitAttestationAsync(request, server.AuthFor(other)).ResponseAsync);
        await Assertions.Refused(StatusCode.PermissionDenied, () => server.Client.SubmitAttestationAsync(request,
            server.Host.Auth("provider", "mkt-elsewhere", provider.ProviderId)).ResponseAsync);
        await Assertions.Refused(StatusCode.PermissionDenied, () => server.Client.SubmitAttestationAsync(request, server.Operator(provider.MarketplaceId)).ResponseAsync);
        await Assertions.Refused(StatusCode.Unauthenticated, () => server.Client.SubmitAttestationAsync(request).ResponseAsync);
        Assert.Equal(0, (await server.SnapshotAsync()).LedgerRows);
    }

    [Fact]
    public async Task Submit_RevokedKey_RefusesWhatWasSignedFromTheRevocationOnAndKeepsWhatWasSignedBefore()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        var now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var revokedAt = now.AddMinutes(2);
        await server.Client.RevokeProviderKeyAsync(new RevokeProviderKeyRequest
        {
            MarketplaceId = provider.MarketplaceId,
            ProviderId = provider.ProviderId,
            KeyId = provider.KeyId,
            RevokedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(revokedAt),
            Reason = "host decommissioned",
        }, server.Operator(provider.MarketplaceId));

        var before = provider.Attestation();
        var after = provider.Attestation();
        after.SignedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(revokedAt);

        Assert.Equal(Outcome.Accepted, (await server.SubmitAsync(provider, before)).Outcome);
        var snapshot = await server.SnapshotAsync();
        var e = await Assertions.Refused(StatusCode.FailedPrecondition, () => server.SubmitAsync(provider, after));
        Assertions.HasReason(e, "KEY_REVOKED");
        Assert.Equal(snapshot, await server.SnapshotAsync());
    }

    [Fact]
    public async Task Submit_AfterRotation_AcceptsBothKeysDuringTheOverlap()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        using var newKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rotated = await server.Client.RotateProviderKeyAsync(new RotateProviderKeyRequest
        {
            MarketplaceId = provider.MarketplaceId,
            ProviderId = provider.ProviderId,
            NewKeyId = "key-2",
            NewPublicKeyPem = newKey.ExportSubjectPublicKeyInfoPem(),
            OverlapSeconds = 3600,
        }, server.Operator(provider.MarketplaceId));

        Assert.Equal(["key-1", "key-2"], rotated.Provider.Keys.Select(k => k.KeyId));
        var oldKey = rotated.Provider.Keys[0];
        Assert.Equal(oldKey.ValidFrom.Seconds + 3600, oldKey.ValidUntil.Seconds, tolerance: 2);
        Assert.Null(rotated.Provider.Keys[1].ValidUntil);
        Assert.Equal(Outcome.Accepted, (await server.SubmitAsync(provider, provider.Attestation())).Outcome);
        Assert.Equal(Outcome.Accepted, (await server.SubmitAsync(provider, provider.Attestation(), newKey, "key-2")).Outcome);
        // The new key's signature under the old key's id does not verify.
        var e = await Assertions.Refused(StatusCode.InvalidArgument, () => server.SubmitAsync(provider, provider.Attestation(), newKey, "key-1"));
        Assertions.HasReason(e, "SIGNATURE_INVALID");
    }

    [Fact]
    public async Task Submit_SameAttestationInParallel_EndsAsOneRowAndOneReceipt()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        var request = provider.Sign(provider.Attestation());

        var receipts = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ =>
            server.Client.SubmitAttestationAsync(request, server.AuthFor(provider)).ResponseAsync));

        Assert.Single(receipts.Select(r => r.Receipt).Distinct());
        var snapshot = await server.SnapshotAsync();
        Assert.Equal((1, 1L, 1, 0), (snapshot.LedgerRows, snapshot.TreeSize, snapshot.OutboxRows, snapshot.ReviewRows));
    }

    internal static async Task<UsageAttested> PublishedEventAsync(AttestationServer server)
    {
        // The in-memory bus accepts the publish; the publisher then marks the row.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var row = await server.WithDbAsync(db => db.Outbox.AsNoTracking().SingleAsync());
            if (row.PublishedAt is not null)
            {
                Assert.Equal(typeof(UsageAttested).FullName, row.MessageType);
                return JsonSerializer.Deserialize<UsageAttested>(row.Payload, new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
            }

            Assert.True(DateTime.UtcNow < deadline, "the outbox row was not published within 15 s");
            await Task.Delay(100);
        }
    }
}
