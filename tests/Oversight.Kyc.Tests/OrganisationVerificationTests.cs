using System.Text;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Oversight.Common.V1;
using Oversight.Contracts;
using Oversight.Hosting.Auth;
using Oversight.Kyc.V1;
using Oversight.Kyc.Verification;

namespace Oversight.Kyc.Tests;

/// <summary>Organisation verification as its own step (issue 4, item 4).</summary>
public class OrganisationVerificationTests(KycHostFixture fixture) : IClassFixture<KycHostFixture>
{
    private const string RegistryId = "GB-COH:0987-6543";

    private KycTiering.KycTieringClient Client => fixture.Client;

    [Fact]
    public async Task SubmitVerificationResult_ApprovedOrganisation_GivesTheTopRungAndKeepsOnlyABlindIndex()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "org");
        var start = await Client.StartOrganisationVerificationAsync(new StartOrganisationVerificationRequest { MarketplaceId = marketplace, AccountId = "org" }, op);
        Assert.Equal("simulated", start.Provider);
        var occurredAt = DateTimeOffset.UtcNow.AddMinutes(-1);

        var response = await fixture.SubmitAsync(Results.Organisation(start.SessionRef, "evt-1", "approved", occurredAt, RegistryId, 3));

        Assert.True(response.Applied);
        Assert.Equal(VerificationStatus.Approved, response.Status);
        Assert.Equal(new Tier { Level = 3, Id = "organisation_verified", DisplayName = "Organisation verified", Requirement = RequirementKind.Organisation }, response.Tier);
        var account = await fixture.AccountAsync(marketplace, "org");
        Assert.Equal(("organisation verified", "provider:simulated"), (account.History.Last().Reason, account.History.Last().Actor));
        Assert.Equal(Results.Seconds(occurredAt).AddDays(365), account.TierExpiresAt.ToDateTimeOffset());
        var change = Assert.Single(await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "org"));
        Assert.Equal((0, 3, "ORGANISATION"), (change.FromLevel, change.ToLevel, change.Requirement));

        await using var db = fixture.NewDbContext();
        var verification = await db.Verifications.AsNoTracking().SingleAsync(v => v.SessionRef == start.SessionRef);
        Assert.Equal(("ORGANISATION", "APPROVED", 3), (verification.Kind, verification.Status, verification.BeneficialOwnerCount));
        Assert.Matches("^[0-9a-f]{64}$", verification.BlindIndex!);
        Assert.Equal("b1", verification.BlindIndexKeyVersion);
        var scan = new PrivacyScan(RegistryId, "GBCOH:09876543");
        Assert.Empty(scan.Find("database", await fixture.DumpRowsAsync()));
        await using var audit = fixture.NewDbContext();
        Assert.Contains(await audit.AuditEvents.Where(a => a.MarketplaceId == marketplace).Select(a => a.Reason).ToListAsync(),
            r => r.StartsWith("organisation result approved", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SubmitVerificationResult_OrganisationAfterIdentity_MovesUpAndPendingChangesNothing()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "o");
        await fixture.ApproveIdentityAsync(marketplace, op, "o", "P1234567");
        var session = await fixture.StartOrganisationAsync(marketplace, op, "o");

        var pending = await fixture.SubmitAsync(Results.Organisation(session, "evt-p", "pending", DateTimeOffset.UtcNow.AddMinutes(-2), null, null));
        Assert.True(pending.Applied);
        Assert.Equal("identity_verified", pending.Tier.Id);

        var approved = await fixture.SubmitAsync(Results.Organisation(session, "evt-a", "approved", DateTimeOffset.UtcNow.AddMinutes(-1), "DE-HRB:12345", 0));
        Assert.Equal("organisation_verified", approved.Tier.Id);
        Assert.Equal([(0, 2), (2, 3)], (await fixture.OutboxEventsAsync<AccountTierChanged>(marketplace, "o")).Select(c => (c.FromLevel, c.ToLevel)));
    }

    [Fact]
    public async Task SubmitVerificationResult_KindNotMatchingTheSession_IsInvalidArgumentAndChangesNothing()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "k");
        var identitySession = await fixture.StartIdentityAsync(marketplace, op, "k");
        var organisationSession = await fixture.StartOrganisationAsync(marketplace, op, "k");
        var before = await fixture.CountRowsAsync();

        await RpcAssert.FailsAsync(StatusCode.InvalidArgument,
            () => Client.SubmitVerificationResultAsync(fixture.Signed(Results.Organisation(identitySession, "e1", "approved", DateTimeOffset.UtcNow, RegistryId, 1))), "kind organisation does not match");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument,
            () => Client.SubmitVerificationResultAsync(fixture.Signed(Results.Identity(organisationSession, "e2", "approved", DateTimeOffset.UtcNow, "D1"))), "kind identity does not match");

        Assert.Equal(before, await fixture.CountRowsAsync());
        Assert.Equal("anonymous", (await fixture.AccountAsync(marketplace, "k")).Tier.Id);
    }

    public static TheoryData<string, string> BadOrganisationResults => new()
    {
        { """{"kind":"organisation","status":"approved","beneficial_owner_count":2}""", "registry_id is required" },
        { """{"kind":"organisation","status":"approved","registry_id":"R-1"}""", "beneficial_owner_count is required" },
        { """{"kind":"organisation","status":"approved","registry_id":"R-1","beneficial_owner_count":-1}""", "beneficial_owner_count must be 0 to 10000" },
        { """{"kind":"organisation","status":"approved","registry_id":"R-1","beneficial_owner_count":"two"}""", "integer beneficial_owner_count" },
        { """{"kind":"organisation","status":"approved","registry_id":"R-1","beneficial_owner_count":1,"document_number":"D9"}""", "document_number belongs to kind identity" },
        { """{"kind":"identity","status":"approved","registry_id":"R-1"}""", "belong to kind organisation" },
        { """{"kind":"company","status":"approved"}""", "kind must be identity or organisation" },
    };

    [Theory]
    [MemberData(nameof(BadOrganisationResults))]
    public async Task SubmitVerificationResult_MalformedOrganisationResult_IsInvalidArgumentNamingTheMemberAndChangesNothing(string members, string mentions)
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "b");
        var session = await fixture.StartOrganisationAsync(marketplace, op, "b");
        var json = members.TrimEnd('}') + $$""","event_id":"{{session}}-bad","session_ref":"{{session}}","occurred_at":"{{Results.Time(DateTimeOffset.UtcNow)}}"}""";
        var bytes = Encoding.UTF8.GetBytes(json);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var request = KycHostFixture.ToRequest(new SignedCallback("simulated", bytes, now, CallbackSignature.ComputeHex(Encoding.UTF8.GetBytes(fixture.Secret1), now, bytes), KycHostFixture.SecretId1));
        var before = await fixture.CountRowsAsync();

        var exception = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.SubmitVerificationResultAsync(request), mentions);

        Assert.StartsWith("payload:", exception.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("R-1", exception.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(before, await fixture.CountRowsAsync());
    }

    [Fact]
    public async Task StartOrganisationVerification_WithBadInputOrWrongCaller_FailsPreciselyAndChangesNothing()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "s");
        var before = await fixture.CountRowsAsync();
        StartOrganisationVerificationRequest Request(string account) => new() { MarketplaceId = marketplace, AccountId = account };

        await RpcAssert.FailsAsync(StatusCode.NotFound, () => Client.StartOrganisationVerificationAsync(Request("ghost"), op), "ghost");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.StartOrganisationVerificationAsync(Request("bad id"), op), "account_id");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.StartOrganisationVerificationAsync(new StartOrganisationVerificationRequest { AccountId = "s" }, op), "marketplace_id");
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.StartOrganisationVerificationAsync(Request("s"), fixture.Auth(Roles.Auditor, marketplace)));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.StartOrganisationVerificationAsync(Request("s"), fixture.Auth(Roles.Operator, "another-marketplace")));
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.StartOrganisationVerificationAsync(Request("s")));

        Assert.Equal(before, await fixture.CountRowsAsync());
    }
}
