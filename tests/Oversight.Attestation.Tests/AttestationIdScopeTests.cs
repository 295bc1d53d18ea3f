using System.Text.Json;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Oversight.Attestation.V1;
using Oversight.Contracts;
using Oversight.Testing;

namespace Oversight.Attestation.Tests;

/// <summary>
/// Providers choose attestation ids, so an id is unique per provider only: another provider's
/// use of an id neither blocks an attestation nor reveals itself. Each test has its own database.
/// </summary>
public sealed class AttestationIdScopeTests
{
    [Fact]
    public async Task Submit_SameIdByAnotherProviderOfTheMarketplaceAndOfAnotherMarketplace_IsAcceptedLoggedAndPublishedForEach()
    {
        await using var server = await AttestationServer.StartAsync();
        var first = await server.RegisterProviderAsync();
        var sibling = await server.RegisterProviderAsync(first.MarketplaceId);
        var foreign = await server.RegisterProviderAsync();
        var id = TestServers.UniqueId("att");

        var receipts = new List<Receipt>
        {
            await server.SubmitAsync(first, WithId(first.Attestation(), id)),
            await server.SubmitAsync(sibling, WithId(sibling.Attestation(), id)),
        };
        // The streaming RPC stores through the same checks.
        receipts.AddRange(await server.StreamAsync(foreign, [foreign.Sign(WithId(foreign.Attestation(), id))]));

        Assert.All(receipts, r => Assert.Equal((Outcome.Accepted, id), (r.Outcome, r.AttestationId)));
        Assert.Equal([0L, 1L, 2L], receipts.Select(r => r.LeafIndex));
        var snapshot = await server.SnapshotAsync();
        Assert.Equal(new StoreSnapshot(3, 3, snapshot.RootHex, 3, 0), snapshot);
        var events = await PublishedEventsAsync(server, 3);
        Assert.Equal(
            [(first.MarketplaceId, first.ProviderId), (sibling.MarketplaceId, sibling.ProviderId), (foreign.MarketplaceId, foreign.ProviderId)],
            events.Select(e => (e.MarketplaceId, e.ProviderId)));
        Assert.All(events, e => Assert.Equal((id, true), (e.AttestationId, e.ProviderScopedId)));
    }

    [Fact]
    public async Task Submit_SameIdAgainByTheSameProvider_AfterAnotherProviderUsedIt_IsARepeatOrAConflictOfThatProviderOnly()
    {
        await using var server = await AttestationServer.StartAsync();
        var first = await server.RegisterProviderAsync();
        var sibling = await server.RegisterProviderAsync(first.MarketplaceId);
        var id = TestServers.UniqueId("att");
        await server.SubmitAsync(first, WithId(first.Attestation(), id));
        var original = WithId(sibling.Attestation(), id);
        var stored = await server.SubmitAsync(sibling, original);

        // The same signed content again (and signed anew): the stored receipt, nothing stored.
        var repeat = await server.SubmitAsync(sibling, original);
        var resigned = (await server.StreamAsync(sibling, [sibling.Sign(original)])).Single();
        var before = await server.SnapshotAsync();
        // Other content under the provider's own id: a conflict, kept for review only.
        var changed = original.Clone();
        changed.FlopUnits -= 1;
        changed.Sequence = sibling.NextSequence();
        var e = await Assertions.Refused(StatusCode.AlreadyExists, () => server.SubmitAsync(sibling, changed));

        Assert.Equal(stored, repeat);
        Assert.Equal(stored, resigned);
        Assert.Equal(new StoreSnapshot(2, 2, before.RootHex, 2, 0), before);
        Assertions.HasReason(e, "DUPLICATE_ID_DIFFERENT_BYTES");
        Assert.Equal(before with { ReviewRows = 1 }, await server.SnapshotAsync());
        var review = await server.WithDbAsync(db => db.ReviewItems.SingleAsync());
        Assert.Equal((sibling.ProviderId, id), (review.ProviderId, review.AttestationId));
    }

    [Fact]
    public async Task GetAttestation_OfAnIdSeveralProvidersUsed_AnswersOnlyFromTheCallersMarketplaceAndProvider()
    {
        await using var server = await AttestationServer.StartAsync();
        var first = await server.RegisterProviderAsync();
        var sibling = await server.RegisterProviderAsync(first.MarketplaceId);
        var foreign = await server.RegisterProviderAsync();
        var id = TestServers.UniqueId("att");
        var ofFirst = WithId(first.Attestation(accountId: "acct-first"), id);
        var ofSibling = WithId(sibling.Attestation(accountId: "acct-sibling"), id);
        var ofForeign = WithId(foreign.Attestation(accountId: "acct-foreign"), id);
        await server.SubmitAsync(first, ofFirst);
        await server.SubmitAsync(sibling, ofSibling);
        await server.SubmitAsync(foreign, ofForeign);
        var onlyForeign = foreign.Attestation();
        await server.SubmitAsync(foreign, onlyForeign);
        GetAttestationRequest Get(string? provider = null, string? marketplace = null, string? attestationId = null) =>
            new() { AttestationId = attestationId ?? id, ProviderId = provider ?? "", MarketplaceId = marketplace ?? "" };
        async Task<UsageAttestation> GotAsync(GetAttestationRequest request, Metadata auth) =>
            (await server.Client.GetAttestationAsync(request, auth)).Attestation;
        Task<RpcException> RefusedAsync(StatusCode code, GetAttestationRequest request, Metadata auth) =>
            Assertions.Refused(code, () => server.Client.GetAttestationAsync(request, auth).ResponseAsync);

        // A provider reads its own, whatever others used the id for.
        Assert.Equal(ofFirst, await GotAsync(Get(), server.AuthFor(first)));
        Assert.Equal(ofSibling, await GotAsync(Get(), server.AuthFor(sibling)));
        Assert.Equal(ofForeign, await GotAsync(Get(provider: foreign.ProviderId), server.AuthFor(foreign)));
        await RefusedAsync(StatusCode.PermissionDenied, Get(provider: sibling.ProviderId), server.AuthFor(first));

        // The other marketplace's operator finds its one entry, never an ambiguity that would
        // tell it the id is used elsewhere.
        var foreignOperator = server.Operator(foreign.MarketplaceId);
        Assert.Equal(ofForeign, await GotAsync(Get(), foreignOperator));
        await RefusedAsync(StatusCode.NotFound, Get(provider: first.ProviderId), foreignOperator);
        await RefusedAsync(StatusCode.PermissionDenied, Get(marketplace: first.MarketplaceId), foreignOperator);

        // In the marketplace where two providers used it, the provider says whose.
        var auditor = server.Host.Auth("auditor", first.MarketplaceId);
        Assertions.NamesField(await RefusedAsync(StatusCode.InvalidArgument, Get(), auditor), "provider_id");
        Assert.Equal(ofSibling, await GotAsync(Get(provider: sibling.ProviderId), auditor));
        Assert.Equal(ofFirst, await GotAsync(Get(provider: first.ProviderId, marketplace: first.MarketplaceId), server.Operator(first.MarketplaceId)));
        await RefusedAsync(StatusCode.NotFound, Get(provider: foreign.ProviderId), auditor);
        await RefusedAsync(StatusCode.NotFound, Get(attestationId: onlyForeign.AttestationId), auditor);

        // The services see every marketplace, and say which of them to pick.
        var service = server.Host.Auth("service");
        Assertions.NamesField(await RefusedAsync(StatusCode.InvalidArgument, Get(), service), "marketplace_id");
        Assert.Equal(ofForeign, await GotAsync(Get(marketplace: foreign.MarketplaceId), service));
        Assert.Equal(ofFirst, await GotAsync(Get(provider: first.ProviderId, marketplace: first.MarketplaceId), service));
        Assert.Equal(onlyForeign, await GotAsync(Get(attestationId: onlyForeign.AttestationId), service));
    }

    private static UsageAttestation WithId(UsageAttestation attestation, string id)
    {
        attestation.AttestationId = id;
        return attestation;
    }

    private static async Task<List<UsageAttested>> PublishedEventsAsync(AttestationServer server, int count)
    {
        // The in-memory bus accepts the publishes; the publisher then marks the rows.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var rows = await server.WithDbAsync(db => db.Outbox.AsNoTracking().OrderBy(m => m.Sequence).ToListAsync());
            if (rows.Count == count && rows.All(r => r.PublishedAt is not null))
            {
                return [.. rows.Select(r => JsonSerializer.Deserialize<UsageAttested>(r.Payload, new JsonSerializerOptions(JsonSerializerDefaults.Web))!)];
            }

            Assert.True(DateTime.UtcNow < deadline, $"{count} published UsageAttested expected, {rows.Count(r => r.PublishedAt is not null)} of {rows.Count} rows published");
            await Task.Delay(100);
        }
    }
}
