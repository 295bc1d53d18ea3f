using Grpc.Core;
using Oversight.Hosting.Auth;
using Oversight.Kyc.V1;

namespace Oversight.Kyc.Tests;

/// <summary>The audit log (issue 4, item 8) through ListAuditEvents.</summary>
public class AuditLogTests(KycHostFixture fixture) : IClassFixture<KycHostFixture>
{
    private const string PurposeText = "Weather simulation for Dave Example of Example Farms";
    private const string DocumentNumber = "PASS-1122334455";

    private KycTiering.KycTieringClient Client => fixture.Client;

    private async Task<List<AuditEvent>> AllAsync(string marketplace, Metadata caller, string accountId = "", int pageSize = 4)
    {
        var events = new List<AuditEvent>();
        var token = "";
        do
        {
            var page = await Client.ListAuditEventsAsync(new ListAuditEventsRequest { MarketplaceId = marketplace, AccountId = accountId, PageSize = pageSize, PageToken = token }, caller);
            Assert.True(page.Events.Count <= pageSize);
            events.AddRange(page.Events);
            token = page.NextPageToken;
        }
        while (token != "");

        return events;
    }

    [Fact]
    public async Task ListAuditEvents_RecordsEveryChangeAndProtectedRead_WithWhoWhenWhy_AndNoPersonalData()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        var (other, otherOp) = fixture.NewMarketplace();
        var auditor = fixture.Auth(Roles.Auditor, marketplace);
        var compliance = fixture.Auth(Roles.Compliance, marketplace);
        await fixture.CreateAsync(marketplace, op, "a", "b");
        await fixture.CreateAsync(other, otherOp, "x");
        await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "a", Category = PurposeCategory.RenderingOrSimulation, Text = PurposeText }, op);
        await Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "a", Reason = "ticket 5: spot check" }, auditor);
        await fixture.ApproveIdentityAsync(marketplace, op, "a", DocumentNumber);
        await Client.SuspendAccountAsync(new SuspendAccountRequest { MarketplaceId = marketplace, AccountId = "a", Reason = "case 9 opened" }, compliance);
        await Client.ReinstateAccountAsync(new ReinstateAccountRequest { MarketplaceId = marketplace, AccountId = "a", Reason = "case 9 closed" }, compliance);
        await Client.LinkAccountsAsync(new LinkAccountsRequest { MarketplaceId = marketplace, AccountIds = { "a", "b" }, Reason = "shared device" }, op);
        await Client.EraseAccountAsync(new EraseAccountRequest { MarketplaceId = marketplace, AccountId = "b", Reason = "erasure request 3" }, compliance);

        var events = await AllAsync(marketplace, auditor);

        Assert.Equal(events.Select(e => e.Sequence).Order(), events.Select(e => e.Sequence));
        Assert.Equal(events.Count, events.Select(e => e.Sequence).Distinct().Count());
        var actions = events.Select(e => (e.Action, e.AccountId)).ToList();
        foreach (var expected in new[]
        {
            ("account.created", "a"), ("account.created", "b"), ("purpose.stated", "a"), ("tier.changed", "a"), ("purpose.read", "a"),
            ("verification.started", "a"), ("verification.result", "a"), ("account.suspended", "a"), ("account.reinstated", "a"),
            ("accounts.linked", "a"), ("accounts.linked", "b"), ("account.erased", "b"),
        })
        {
            Assert.Contains(expected, actions);
        }

        Assert.DoesNotContain(events, e => e.AccountId == "x");
        var read = Assert.Single(events, e => e.Action == "purpose.read");
        Assert.Equal(("auditor:test-auditor", "ticket 5: spot check"), (read.Actor, read.Reason));
        Assert.Equal(("compliance:test-compliance", "case 9 opened"), events.Where(e => e.Action == "account.suspended").Select(e => (e.Actor, e.Reason)).Single());
        Assert.Equal("erasure request 3", events.Single(e => e.Action == "account.erased").Reason);
        Assert.Equal("provider:simulated", events.Single(e => e.Action == "verification.result").Actor);
        Assert.All(events, e =>
        {
            Assert.NotNull(e.At);
            Assert.Matches("^[a-z]+:.+$", e.Actor);
            Assert.True(e.PolicyVersion >= 1);
        });
        var scan = new PrivacyScan(PurposeText, "Dave Example", "Example Farms", DocumentNumber, "PASS1122334455");
        Assert.Empty(scan.Find("audit log", events.Select(e => e.ToString())));

        // Compliance reads it too; the account filter keeps one account's entries.
        var ofB = await AllAsync(marketplace, compliance, "b", pageSize: 100);
        Assert.Equal(["account.created", "accounts.linked", "account.erased"], ofB.Select(e => e.Action));
    }

    [Fact]
    public async Task ListAuditEvents_WithBadInputOrWrongCaller_FailsPrecisely()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "a");
        var auditor = fixture.Auth(Roles.Auditor, marketplace);
        ListAuditEventsRequest Request(string token = "", int size = 0, string account = "") =>
            new() { MarketplaceId = marketplace, PageToken = token, PageSize = size, AccountId = account };

        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.ListAuditEventsAsync(Request(token: "not-a-token"), auditor), "page_token");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.ListAuditEventsAsync(Request(size: -1), auditor), "page_size");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.ListAuditEventsAsync(Request(account: "bad id"), auditor), "account_id");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.ListAuditEventsAsync(new ListAuditEventsRequest(), auditor), "marketplace_id");
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.ListAuditEventsAsync(Request(), op));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.ListAuditEventsAsync(Request(), fixture.Auth(Roles.Admin, marketplace)));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.ListAuditEventsAsync(Request(), fixture.Auth(Roles.Auditor, "other-marketplace")));

        // Large pages are capped, not refused; an unknown account has an empty log.
        Assert.Single((await Client.ListAuditEventsAsync(Request(size: 100_000), auditor)).Events);
        Assert.Empty((await Client.ListAuditEventsAsync(Request(account: "nobody"), auditor)).Events);
    }
}
