using Google.Rpc;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Oversight.Contracts;
using Oversight.Hosting.Auth;
using Oversight.Kyc.V1;

namespace Oversight.Kyc.Tests;

/// <summary>Sybil links (issue 4, item 5): automatic on a shared blind index, explicit by an operator; clusters and their root.</summary>
public class LinkTests(KycHostFixture fixture) : IClassFixture<KycHostFixture>
{
    private KycTiering.KycTieringClient Client => fixture.Client;

    private LinkAccountsRequest Link(string marketplace, string reason, params string[] accounts) =>
        new() { MarketplaceId = marketplace, AccountIds = { accounts }, Reason = reason };

    [Fact]
    public async Task Approval_WithTheSameIdentityDocumentAsAnotherAccount_LinksThemAutomatically()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        var (other, otherOp) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "first", "second", "third");
        await fixture.CreateAsync(other, otherOp, "elsewhere");

        await fixture.ApproveIdentityAsync(marketplace, op, "first", "X9-8765-4321");
        await fixture.ApproveIdentityAsync(other, otherOp, "elsewhere", "X9-8765-4321");
        await fixture.ApproveIdentityAsync(marketplace, op, "third", "Z-0000001");
        // Another spelling of the same document.
        await fixture.ApproveIdentityAsync(marketplace, op, "second", "x9 8765 4321");

        var linked = Assert.Single(await fixture.OutboxEventsOfMarketplaceAsync<AccountsLinked>(marketplace));
        Assert.Equal(("first", "IDENTITY_DOCUMENT", 1L), (linked.ClusterRoot, linked.Basis, linked.ClusterVersion));
        Assert.Equal(["first", "second"], linked.ClusterAccountIds);
        Assert.Equal("first", (await fixture.AccountAsync(marketplace, "second")).ClusterRoot);
        Assert.Equal("first", (await fixture.AccountAsync(marketplace, "first")).ClusterRoot);
        Assert.Equal("third", (await fixture.AccountAsync(marketplace, "third")).ClusterRoot);
        // Accounts of another marketplace are never linked.
        Assert.Empty(await fixture.OutboxEventsOfMarketplaceAsync<AccountsLinked>(other));
        Assert.Equal("elsewhere", (await fixture.AccountAsync(other, "elsewhere")).ClusterRoot);

        await using var db = fixture.NewDbContext();
        var link = await db.AccountLinks.AsNoTracking().SingleAsync(l => l.MarketplaceId == marketplace);
        Assert.Equal(("second", "first", "IDENTITY_DOCUMENT", "system"), (link.AccountId, link.LinkedAccountId, link.Basis, link.Actor));
        var audited = await db.AuditEvents.AsNoTracking().Where(a => a.MarketplaceId == marketplace && a.Action == "accounts.linked").ToListAsync();
        Assert.Equal(["first", "second"], audited.Select(a => a.AccountId).Order());
        await KycHostFixture.EventuallyAsync(() => Task.FromResult(fixture.Events.Of<AccountsLinked>(marketplace).Any()), "AccountsLinked on the bus");
    }

    [Fact]
    public async Task Approval_WithTheSameRegistryId_LinksTheOrganisations()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "org-a", "org-b");

        await fixture.ApproveOrganisationAsync(marketplace, op, "org-a", "FR-RCS:123 456 789");
        await fixture.ApproveOrganisationAsync(marketplace, op, "org-b", "fr-rcs:123456789");

        var linked = Assert.Single(await fixture.OutboxEventsOfMarketplaceAsync<AccountsLinked>(marketplace));
        Assert.Equal(("org-a", "ORGANISATION_REGISTRY"), (linked.ClusterRoot, linked.Basis));
        Assert.Equal(["org-a", "org-b"], linked.ClusterAccountIds);
    }

    [Fact]
    public async Task LinkAccounts_MergesClustersUnderTheOldestAccount_WithIncreasingClusterVersions()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        // Created in this order: "zeta" is the oldest, so it is the root whatever the ids sort like.
        await fixture.CreateAsync(marketplace, op, "zeta", "beta", "alpha", "lone");

        var first = await Client.LinkAccountsAsync(Link(marketplace, "same payment instrument", "alpha", "beta"), op);
        Assert.Equal("beta", first.ClusterRoot);
        Assert.Equal(["alpha", "beta"], first.ClusterAccountIds);

        var compliance = fixture.Auth(Roles.Compliance, marketplace);
        var second = await Client.LinkAccountsAsync(Link(marketplace, "case 17", "alpha", "zeta"), compliance);
        Assert.Equal("zeta", second.ClusterRoot);
        Assert.Equal(["alpha", "beta", "zeta"], second.ClusterAccountIds);

        foreach (var id in new[] { "alpha", "beta", "zeta" })
        {
            Assert.Equal("zeta", (await fixture.AccountAsync(marketplace, id)).ClusterRoot);
        }

        Assert.Equal("lone", (await fixture.AccountAsync(marketplace, "lone")).ClusterRoot);
        var events = await fixture.OutboxEventsOfMarketplaceAsync<AccountsLinked>(marketplace);
        Assert.Equal([(1L, "beta"), (2L, "zeta")], events.Select(e => (e.ClusterVersion, e.ClusterRoot)));
        Assert.All(events, e => Assert.Equal("OPERATOR", e.Basis));
        Assert.Equal(["alpha", "beta", "zeta"], events[1].ClusterAccountIds);

        await using var db = fixture.NewDbContext();
        var reasons = await db.AuditEvents.AsNoTracking().Where(a => a.MarketplaceId == marketplace && a.Action == "accounts.linked" && a.AccountId == "beta")
            .OrderBy(a => a.Sequence).Select(a => new { a.Actor, a.Reason }).ToListAsync();
        Assert.Equal(["operator:test-operator", "compliance:test-compliance"], reasons.Select(r => r.Actor));
        Assert.Contains("case 17", reasons[1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LinkAccounts_WhenAlreadyInOneCluster_ChangesNothingAndPublishesNothing()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "a", "b", "c");
        await Client.LinkAccountsAsync(Link(marketplace, "r", "a", "b"), op);
        await Client.LinkAccountsAsync(Link(marketplace, "r", "b", "c"), op);
        var before = await fixture.CountRowsAsync();

        var again = await Client.LinkAccountsAsync(Link(marketplace, "retry", "c", "a"), op);

        Assert.Equal("a", again.ClusterRoot);
        Assert.Equal(["a", "b", "c"], again.ClusterAccountIds);
        Assert.Equal(before, await fixture.CountRowsAsync());
    }

    [Fact]
    public async Task LinkAccounts_Concurrently_SerialisesPerMarketplaceAndEndsInOneCluster()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "p1", "p2", "p3", "p4", "p5");

        await Task.WhenAll(
            Client.LinkAccountsAsync(Link(marketplace, "r", "p1", "p2"), op).ResponseAsync,
            Client.LinkAccountsAsync(Link(marketplace, "r", "p2", "p3"), op).ResponseAsync,
            Client.LinkAccountsAsync(Link(marketplace, "r", "p3", "p4"), op).ResponseAsync,
            Client.LinkAccountsAsync(Link(marketplace, "r", "p4", "p5"), op).ResponseAsync);

        var events = await fixture.OutboxEventsOfMarketplaceAsync<AccountsLinked>(marketplace);
        Assert.Equal([1L, 2L, 3L, 4L], events.Select(e => e.ClusterVersion).Order());
        var last = events.MaxBy(e => e.ClusterVersion)!;
        Assert.Equal("p1", last.ClusterRoot);
        Assert.Equal(["p1", "p2", "p3", "p4", "p5"], last.ClusterAccountIds);
        foreach (var id in new[] { "p1", "p2", "p3", "p4", "p5" })
        {
            Assert.Equal("p1", (await fixture.AccountAsync(marketplace, id)).ClusterRoot);
        }
    }

    [Fact]
    public async Task LinkAccounts_WithBadInput_FailsNamingTheProblemAndChangesNothing()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        var (other, otherOp) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "a", "b");
        await fixture.CreateAsync(other, otherOp, "foreign");
        var before = await fixture.CountRowsAsync();

        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.LinkAccountsAsync(Link(marketplace, "r", "a"), op), "account_ids: account_ids must name at least two");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.LinkAccountsAsync(Link(marketplace, "r", "a", "a"), op), "at least two different accounts");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.LinkAccountsAsync(Link(marketplace, "r"), op), "account_ids");
        var malformed = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.LinkAccountsAsync(Link(marketplace, "", "a", "not valid"), op), "account_ids[1]");
        // The field violations travel as google.rpc.BadRequest, one per field.
        var violations = malformed.GetRpcStatus()!.GetDetail<BadRequest>()!.FieldViolations.Select(v => v.Field);
        Assert.Equal(["account_ids[1]", "reason"], violations);
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.LinkAccountsAsync(Link(marketplace, " ", "a", "b"), op), "reason");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument,
            () => Client.LinkAccountsAsync(Link(marketplace, "r", Enumerable.Range(0, 101).Select(i => $"x{i}").ToArray()), op), "at most 100");
        await RpcAssert.FailsAsync(StatusCode.NotFound, () => Client.LinkAccountsAsync(Link(marketplace, "r", "a", "ghost", "phantom"), op), "'ghost', 'phantom' do not exist");
        // Another marketplace's account is not an account of this one.
        await RpcAssert.FailsAsync(StatusCode.NotFound, () => Client.LinkAccountsAsync(Link(marketplace, "r", "a", "foreign"), op), "'foreign' does not exist");
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.LinkAccountsAsync(Link(marketplace, "r", "a", "b"), otherOp));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.LinkAccountsAsync(Link(marketplace, "r", "a", "b"), fixture.Auth(Roles.Auditor, marketplace)));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.LinkAccountsAsync(Link(marketplace, "r", "a", "b"), fixture.Auth(Roles.Admin, marketplace)));

        Assert.Equal(before, await fixture.CountRowsAsync());
    }
}
