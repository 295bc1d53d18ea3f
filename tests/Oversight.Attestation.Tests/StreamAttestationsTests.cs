using Google.Protobuf;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Oversight.Attestation.V1;

namespace Oversight.Attestation.Tests;

/// <summary>StreamAttestations: one receipt per request in order, refusals as REJECTED receipts, batches stored contiguously.</summary>
public sealed class StreamAttestationsTests
{
    [Fact]
    public async Task Stream_MixOfGoodAndBadItems_AnswersEachInOrderAndStoresOnlyTheGoodOnes()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        var other = await server.RegisterProviderAsync(provider.MarketplaceId);
        var good1 = provider.Sign(provider.Attestation());
        var badSignature = provider.Sign(provider.Attestation());
        badSignature.Signature = ByteString.CopyFrom(new byte[64]);
        var malformed = provider.Sign(provider.Attestation());
        malformed.Attestation.AcceleratorCount = 0;
        var aboveInventory = provider.Attestation();
        aboveInventory.AcceleratorCount = 9;
        var flagged = provider.Attestation();
        flagged.FlopUnits = 8L * 989 * 3600 * 9 / 10;
        var asOther = other.Sign(other.Attestation());
        var good2 = provider.Sign(provider.Attestation());
        var reusedSequence = provider.Sign(provider.Attestation(sequence: good1.Attestation.Sequence));

        var receipts = await server.StreamAsync(provider,
            [good1, badSignature, malformed, provider.Sign(aboveInventory), provider.Sign(flagged), asOther, good2, reusedSequence, good1]);

        Assert.Equal(9, receipts.Count);
        Assert.Equal(
            [Outcome.Accepted, Outcome.Rejected, Outcome.Rejected, Outcome.Rejected, Outcome.Flagged, Outcome.Rejected, Outcome.Accepted, Outcome.Rejected, Outcome.Accepted],
            receipts.Select(r => r.Outcome));
        Assert.Equal(["SIGNATURE_INVALID", "field:signature"], receipts[1].ReasonCodes);
        Assert.Equal(["MALFORMED", "field:attestation.accelerator_count"], receipts[2].ReasonCodes);
        Assert.Equal(["COUNT_ABOVE_INVENTORY", "field:attestation.accelerator_count"], receipts[3].ReasonCodes);
        Assert.Equal(["UTILISATION_ABOVE_CEILING"], receipts[4].ReasonCodes);
        Assert.Equal(["PERMISSION_DENIED", "field:attestation.provider_id"], receipts[5].ReasonCodes);
        Assert.Equal(["SEQUENCE_REUSED", "field:attestation.sequence"], receipts[7].ReasonCodes);
        Assert.All(receipts.Where(r => r.Outcome == Outcome.Rejected), r => Assert.Equal(("", 0L, "appraisal-2026-11"), (r.LeafHash, r.LeafIndex, r.AppraisalPolicyVersion)));
        Assert.Equal(badSignature.Attestation.AttestationId, receipts[1].AttestationId);

        // Stored: good1, flagged, good2 at leaves 0-2; the resent good1 got its first receipt.
        Assert.Equal([0L, 1, 2], new[] { receipts[0], receipts[4], receipts[6] }.Select(r => r.LeafIndex));
        Assert.Equal(receipts[0], receipts[8]);
        var snapshot = await server.SnapshotAsync();
        Assert.Equal((3, 3L, 3, 1), (snapshot.LedgerRows, snapshot.TreeSize, snapshot.OutboxRows, snapshot.ReviewRows));
        var got = await server.Client.GetAttestationAsync(new GetAttestationRequest { AttestationId = good2.Attestation.AttestationId }, server.AuthFor(provider));
        Assert.Equal(receipts[6], got.Receipt);
    }

    [Fact]
    public async Task Stream_SameIdTwiceInOneBatch_StoresItOnceAndAConflictingCopyIsRejectedForReview()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        var first = provider.Sign(provider.Attestation());
        var resigned = provider.Sign(first.Attestation);
        var changed = first.Attestation.Clone();
        changed.FlopUnits += 1;
        changed.Sequence = provider.NextSequence();

        var receipts = await server.StreamAsync(provider, [first, resigned, provider.Sign(changed)]);

        Assert.Equal(receipts[0], receipts[1]);
        Assert.Equal(Outcome.Rejected, receipts[2].Outcome);
        Assert.Equal("DUPLICATE_ID_DIFFERENT_BYTES", receipts[2].ReasonCodes[0]);
        var snapshot = await server.SnapshotAsync();
        Assert.Equal((1, 1L, 1, 1), (snapshot.LedgerRows, snapshot.TreeSize, snapshot.OutboxRows, snapshot.ReviewRows));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Stream_ManyAttestationsInSmallBatches_GetContiguousLeavesAndTheReferenceRoot(bool sqlite)
    {
        await using var server = await AttestationServer.StartAsync(sqlite, new Dictionary<string, string?> { ["Oversight:Attestation:StreamBatchSize"] = "7" });
        var provider = await server.RegisterProviderAsync();
        var requests = Enumerable.Range(0, 150).Select(_ => provider.Sign(provider.Attestation())).ToList();

        var receipts = await server.StreamAsync(provider, requests);

        Assert.Equal(requests.Select(r => r.Attestation.AttestationId), receipts.Select(r => r.AttestationId));
        Assert.Equal(Enumerable.Range(0, 150).Select(i => (long)i), receipts.Select(r => r.LeafIndex));
        var ledger = await server.WithDbAsync(db => db.Ledger.AsNoTracking().OrderBy(e => e.LeafIndex).Select(e => e.LeafHash).ToListAsync());
        var state = await server.WithDbAsync(db => db.LogState.AsNoTracking().SingleAsync());
        Assert.Equal(ReferenceMerkleTree.Root(ledger), state.RootHash);
        Assert.Equal(receipts.Select(r => r.LeafHash), ledger.Select(Convert.ToHexStringLower));
        Assert.Equal(150 - long.PopCount(150), await server.WithDbAsync(db => db.LogNodes.CountAsync()));
    }

    [Fact]
    public async Task Stream_TwoStreamsAndUnaryCallsInParallel_ShareOneContiguousLog()
    {
        await using var server = await AttestationServer.StartAsync(settings: new Dictionary<string, string?> { ["Oversight:Attestation:StreamBatchSize"] = "5" });
        var a = await server.RegisterProviderAsync();
        var b = await server.RegisterProviderAsync();

        var streams = new[]
        {
            server.StreamAsync(a, Enumerable.Range(0, 40).Select(_ => a.Sign(a.Attestation())).ToList()),
            server.StreamAsync(b, Enumerable.Range(0, 40).Select(_ => b.Sign(b.Attestation())).ToList()),
        };
        var unary = Enumerable.Range(0, 10).Select(_ => server.SubmitAsync(a, a.Attestation()));
        var all = (await Task.WhenAll(streams)).SelectMany(r => r).Concat(await Task.WhenAll(unary)).ToList();

        Assert.Equal(Enumerable.Range(0, 90).Select(i => (long)i), all.Select(r => r.LeafIndex).Order());
        var ledger = await server.WithDbAsync(db => db.Ledger.AsNoTracking().OrderBy(e => e.LeafIndex).Select(e => e.LeafHash).ToListAsync());
        Assert.Equal(ReferenceMerkleTree.Root(ledger), (await server.WithDbAsync(db => db.LogState.AsNoTracking().SingleAsync())).RootHash);
    }

    [Fact]
    public async Task Stream_ByANonProviderOrWithoutAToken_FailsTheCall()
    {
        await using var server = await AttestationServer.StartAsync(sqlite: true);
        var provider = await server.RegisterProviderAsync();
        var request = provider.Sign(provider.Attestation());

        await Assertions.Refused(StatusCode.PermissionDenied, () => server.StreamAsync(provider, [request], server.Operator(provider.MarketplaceId)));
        await Assertions.Refused(StatusCode.Unauthenticated, () => server.StreamAsync(provider, [request], new Metadata()));
        Assert.Empty(await server.StreamAsync(provider, []));
        Assert.Equal(0, (await server.SnapshotAsync()).LedgerRows);
    }
}
