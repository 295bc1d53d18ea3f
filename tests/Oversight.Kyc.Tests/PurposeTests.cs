using System.Text;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Oversight.Common.V1;
using Oversight.Contracts;
using Oversight.Hosting.Auth;
using Oversight.Kyc.V1;

namespace Oversight.Kyc.Tests;

public class PurposeTests(KycHostFixture fixture) : IClassFixture<KycHostFixture>
{
    private const string SampleText = "Fine-tuning a protein model for Dr. Alice Example, alice@example.org";

    private KycTiering.KycTieringClient Client => fixture.Client;

    private async Task<(string Marketplace, Metadata Operator)> AccountAsync(string accountId = "p")
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = accountId }, op);
        return (marketplace, op);
    }

    [Fact]
    public async Task StatePurpose_WhenAnonymous_MovesToStatedPurposeTierAndPublishesTierChanged()
    {
        var (marketplace, op) = await AccountAsync();

        var response = await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "p", Category = PurposeCategory.FineTuning, Text = "  " + SampleText + "\n" }, op);

        var account = response.Account;
        Assert.Equal(new Tier { Level = 1, Id = "stated_purpose", DisplayName = "Stated purpose", Requirement = RequirementKind.StatedPurpose }, account.Tier);
        Assert.Equal(PurposeCategory.FineTuning, account.PurposeCategory);
        Assert.Matches("^[0-9a-f]{64}$", response.PurposeHash);
        var change = account.History.Last();
        Assert.Equal(("anonymous", "stated_purpose", "purpose stated", "operator:test-operator", 1L), (change.From.Id, change.To.Id, change.Reason, change.Actor, change.PolicyVersion));

        var tierChanged = Assert.Single(await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "p"));
        Assert.Equal((0, 1, "STATED_PURPOSE", "FINE_TUNING", 2L, 1L),
            (tierChanged.FromLevel, tierChanged.ToLevel, tierChanged.Requirement, tierChanged.PurposeCategory, tierChanged.Sequence, tierChanged.PolicyVersion));
        await KycHostFixture.EventuallyAsync(() => Task.FromResult(fixture.Events.Of<AccountTierChanged>(marketplace).Any()), "AccountTierChanged on the bus");

        // GetAccount (cached or not) agrees.
        Assert.Equal(account, (await Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "p" }, op)).Account);
    }

    [Fact]
    public async Task StatePurpose_TheTextIsNowhereInTheDatabase_InPlainBase64OrHex()
    {
        var (marketplace, op) = await AccountAsync();
        await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "p", Category = PurposeCategory.Research, Text = SampleText }, op);

        var rows = await fixture.DumpRowsAsync();

        Assert.Contains(rows, r => r.StartsWith("stated_purposes:", StringComparison.Ordinal) && r.Contains(marketplace, StringComparison.Ordinal));
        var bytes = Encoding.UTF8.GetBytes(SampleText);
        string[] forms = [SampleText, "Alice Example", "alice@example.org", Convert.ToBase64String(bytes), Convert.ToHexStringLower(bytes), Convert.ToHexStringLower(Encoding.UTF8.GetBytes("alice@example.org"))];
        foreach (var row in rows)
        {
            foreach (var form in forms)
            {
                Assert.DoesNotContain(form.ToLowerInvariant(), row.ToLowerInvariant(), StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task ReadPurpose_ByAnAuditor_ReturnsTheTextAndIsAuditedWithTheReason()
    {
        var (marketplace, op) = await AccountAsync();
        await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "p", Category = PurposeCategory.Research, Text = SampleText }, op);

        var read = await Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "p", Reason = "ticket 7: threshold review" }, fixture.Auth(Roles.Auditor, marketplace));

        Assert.Equal(SampleText, read.Text);
        Assert.Equal(PurposeCategory.Research, read.Category);
        await using var db = fixture.NewDbContext();
        var audit = await db.AuditEvents.Where(a => a.MarketplaceId == marketplace && a.Action == "purpose.read").ToListAsync();
        var entry = Assert.Single(audit);
        Assert.Equal(("ticket 7: threshold review", "auditor:test-auditor"), (entry.Reason, entry.Actor));
        Assert.DoesNotContain(await db.AuditEvents.Where(a => a.MarketplaceId == marketplace).ToListAsync(), a => a.Reason.Contains("Alice", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StatePurpose_Restated_ReplacesTheTextWithoutAnotherTierChange()
    {
        var (marketplace, op) = await AccountAsync();
        var first = await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "p", Category = PurposeCategory.Research, Text = "first" }, op);
        await using var db = fixture.NewDbContext();
        var firstCiphertext = (await db.StatedPurposes.AsNoTracking().SingleAsync(p => p.MarketplaceId == marketplace)).Ciphertext;

        var second = await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "p", Category = PurposeCategory.Education, Text = "second" }, op);

        Assert.NotEqual(first.PurposeHash, second.PurposeHash);
        Assert.Equal(PurposeCategory.Education, second.Account.PurposeCategory);
        Assert.Equal("stated_purpose", second.Account.Tier.Id);
        Assert.Single(await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "p"));
        var stored = await db.StatedPurposes.AsNoTracking().SingleAsync(p => p.MarketplaceId == marketplace);
        Assert.NotEqual(firstCiphertext, stored.Ciphertext);
        var read = await Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "p", Reason = "check" }, fixture.Auth(Roles.Auditor, marketplace));
        Assert.Equal(("second", PurposeCategory.Education), (read.Text, read.Category));
    }

    [Fact]
    public async Task StatePurpose_TheSameTextGivesTheSameHash_AcrossAccounts()
    {
        var (marketplace, op) = await AccountAsync("a");
        await Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "b" }, op);

        var a = await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "a", Category = PurposeCategory.Other, Text = "render farm" }, op);
        var b = await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "b", Category = PurposeCategory.Other, Text = "render farm" }, op);

        Assert.Equal(a.PurposeHash, b.PurposeHash);
    }

    public static TheoryData<string, int, string, string, StatusCode> BadPurposes => new()
    {
        { "p", (int)PurposeCategory.Unspecified, "text", "category", StatusCode.InvalidArgument },
        { "p", 99, "text", "category", StatusCode.InvalidArgument },
        { "p", (int)PurposeCategory.Research, "", "text", StatusCode.InvalidArgument },
        { "p", (int)PurposeCategory.Research, "   \n\t ", "text", StatusCode.InvalidArgument },
        { "p", (int)PurposeCategory.Research, new string('x', 2001), "text", StatusCode.InvalidArgument },
        { "bad id", (int)PurposeCategory.Research, "text", "account_id", StatusCode.InvalidArgument },
        { "", (int)PurposeCategory.Research, "text", "account_id", StatusCode.InvalidArgument },
        { "ghost", (int)PurposeCategory.Research, "text", "ghost", StatusCode.NotFound },
    };

    [Theory]
    [MemberData(nameof(BadPurposes))]
    public async Task StatePurpose_WithBadInput_FailsNamingTheProblemAndChangesNothing(string accountId, int category, string text, string mentions, StatusCode code)
    {
        var (marketplace, op) = await AccountAsync();
        var before = await fixture.CountRowsAsync();

        await RpcAssert.FailsAsync(code, () => Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = accountId, Category = (PurposeCategory)category, Text = text }, op), mentions);

        Assert.Equal(before, await fixture.CountRowsAsync());
        Assert.Equal("anonymous", (await Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "p" }, op)).Account.Tier.Id);
    }

    [Fact]
    public async Task StatePurpose_ExactlyTwoThousandCharacters_IsAccepted()
    {
        var (marketplace, op) = await AccountAsync();

        var response = await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "p", Category = PurposeCategory.Other, Text = new string('é', 2000) }, op);

        Assert.Equal("stated_purpose", response.Account.Tier.Id);
    }

    [Fact]
    public async Task ReadPurpose_WithoutAReasonOrWithoutAPurpose_FailsAndIsNotAudited()
    {
        var (marketplace, _) = await AccountAsync();
        var auditor = fixture.Auth(Roles.Auditor, marketplace);
        var before = await fixture.CountRowsAsync();

        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "p", Reason = "" }, auditor), "reason");
        await RpcAssert.FailsAsync(StatusCode.NotFound, () => Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "p", Reason = "why" }, auditor), "no stated purpose");
        await RpcAssert.FailsAsync(StatusCode.NotFound, () => Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "ghost", Reason = "why" }, auditor));

        Assert.Equal(before, await fixture.CountRowsAsync());
    }
}
