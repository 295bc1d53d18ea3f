using Grpc.Core;
using Oversight.Attestation.V1;

namespace Oversight.Attestation.Tests;

public sealed class ListReviewItemsTests
{
    [Fact]
    public async Task ListReviewItems_PagesThroughTheMarketplacesConflictsOnly()
    {
        await using var server = await AttestationServer.StartAsync(sqlite: true);
        var provider = await server.RegisterProviderAsync();
        var elsewhere = await server.RegisterProviderAsync();
        var stored = provider.Attestation();
        await server.SubmitAsync(provider, stored);
        var requests = Enumerable.Range(0, 5).Select(_ => provider.Sign(provider.Attestation(sequence: stored.Sequence))).ToList();
        var receipts = await server.StreamAsync(provider, requests);
        Assert.All(receipts, r => Assert.Equal("SEQUENCE_REUSED", r.ReasonCodes[0]));
        var foreign = elsewhere.Attestation();
        await server.SubmitAsync(elsewhere, foreign);
        await server.StreamAsync(elsewhere, [elsewhere.Sign(elsewhere.Attestation(sequence: foreign.Sequence))]);

        var auditor = server.Host.Auth("auditor", provider.MarketplaceId);
        var page1 = await server.Client.ListReviewItemsAsync(new ListReviewItemsRequest { MarketplaceId = provider.MarketplaceId, PageSize = 2 }, auditor);
        var page2 = await server.Client.ListReviewItemsAsync(new ListReviewItemsRequest { MarketplaceId = provider.MarketplaceId, PageSize = 2, PageToken = page1.NextPageToken }, auditor);
        var page3 = await server.Client.ListReviewItemsAsync(new ListReviewItemsRequest { MarketplaceId = provider.MarketplaceId, PageSize = 2, PageToken = page2.NextPageToken },
            server.Host.Auth("compliance", provider.MarketplaceId));

        var items = page1.Items.Concat(page2.Items).Concat(page3.Items).ToList();
        Assert.Equal(requests.Select(r => r.Attestation.AttestationId), items.Select(i => i.AttestationId));
        Assert.All(items, i => Assert.Equal(("SEQUENCE_REUSED", provider.ProviderId), (i.ReasonCode, i.ProviderId)));
        Assert.Equal("", page3.NextPageToken);
        Assert.Single(page3.Items);
        Assert.Equal(5, (await server.Client.ListReviewItemsAsync(new ListReviewItemsRequest { MarketplaceId = provider.MarketplaceId }, auditor)).Items.Count);
    }

    [Fact]
    public async Task ListReviewItems_OfAnotherMarketplaceOrByOtherRoles_IsDeniedAndBadPagingNamesTheField()
    {
        await using var server = await AttestationServer.StartAsync(sqlite: true);
        var request = new ListReviewItemsRequest { MarketplaceId = "mkt-a" };

        await Assertions.Refused(StatusCode.PermissionDenied, () => server.Client.ListReviewItemsAsync(request, server.Host.Auth("auditor", "mkt-b")).ResponseAsync);
        await Assertions.Refused(StatusCode.PermissionDenied, () => server.Client.ListReviewItemsAsync(request, server.Host.Auth("operator", "mkt-a")).ResponseAsync);
        await Assertions.Refused(StatusCode.PermissionDenied, () => server.Client.ListReviewItemsAsync(request, server.Host.Auth("provider", "mkt-a", "prov-1")).ResponseAsync);
        await Assertions.Refused(StatusCode.Unauthenticated, () => server.Client.ListReviewItemsAsync(request).ResponseAsync);
        var auditor = server.Host.Auth("auditor", "mkt-a");
        Assertions.NamesField(await Assertions.Refused(StatusCode.InvalidArgument, () => server.Client.ListReviewItemsAsync(new ListReviewItemsRequest { MarketplaceId = "mkt-a", PageToken = "x" }, auditor).ResponseAsync), "page_token");
        Assertions.NamesField(await Assertions.Refused(StatusCode.InvalidArgument, () => server.Client.ListReviewItemsAsync(new ListReviewItemsRequest { MarketplaceId = "mkt-a", PageSize = -1 }, auditor).ResponseAsync), "page_size");
        Assertions.NamesField(await Assertions.Refused(StatusCode.InvalidArgument, () => server.Client.ListReviewItemsAsync(new ListReviewItemsRequest(), auditor).ResponseAsync), "marketplace_id");
        Assert.Empty((await server.Client.ListReviewItemsAsync(request, auditor)).Items);
    }
}
