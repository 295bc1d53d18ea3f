using System.Globalization;
using Grpc.Core;
using Oversight.Kyc.V1;
using Oversight.Kyc.Verification;

namespace Oversight.Kyc.Tests;

/// <summary>Provider results as the simulated provider signs them.</summary>
public static class Results
{
    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>Whole seconds, as a result's occurred_at carries them.</summary>
    public static DateTimeOffset Seconds(DateTimeOffset at) => DateTimeOffset.FromUnixTimeSeconds(at.ToUnixTimeSeconds());

    // Provider event ids are unique per provider, across sessions: prefix them with the session.
    public static VerificationPayload.Document Identity(string sessionRef, string eventId, string status, DateTimeOffset at, string? documentNumber = null) =>
        new($"{sessionRef}-{eventId}", sessionRef, status, "substantial", Time(at), documentNumber);

    public static VerificationPayload.Document Organisation(string sessionRef, string eventId, string status, DateTimeOffset at, string? registryId, int? beneficialOwners) =>
        new($"{sessionRef}-{eventId}", sessionRef, status, "high", Time(at), null, "organisation", registryId, beneficialOwners);
}

/// <summary>Short steps the tests repeat.</summary>
public static class Flows
{
    public static async Task CreateAsync(this KycHostFixture fixture, string marketplace, Metadata op, params string[] accountIds)
    {
        foreach (var accountId in accountIds)
        {
            await fixture.Client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = accountId }, op);
        }
    }

    public static async Task<string> StartIdentityAsync(this KycHostFixture fixture, string marketplace, Metadata op, string accountId) =>
        (await fixture.Client.StartIdentityVerificationAsync(new StartIdentityVerificationRequest { MarketplaceId = marketplace, AccountId = accountId }, op)).SessionRef;

    public static async Task<string> StartOrganisationAsync(this KycHostFixture fixture, string marketplace, Metadata op, string accountId) =>
        (await fixture.Client.StartOrganisationVerificationAsync(new StartOrganisationVerificationRequest { MarketplaceId = marketplace, AccountId = accountId }, op)).SessionRef;

    public static async Task<SubmitVerificationResultResponse> SubmitAsync(this KycHostFixture fixture, VerificationPayload.Document result, DateTimeOffset? timestamp = null) =>
        await fixture.Client.SubmitVerificationResultAsync(fixture.Signed(result, timestamp));

    /// <summary>Opens an identity session and approves it at <paramref name="occurredAt"/> (now by default).</summary>
    public static async Task<SubmitVerificationResultResponse> ApproveIdentityAsync(
        this KycHostFixture fixture, string marketplace, Metadata op, string accountId, string? documentNumber, DateTimeOffset? occurredAt = null, DateTimeOffset? signedAt = null)
    {
        var session = await fixture.StartIdentityAsync(marketplace, op, accountId);
        return await fixture.SubmitAsync(Results.Identity(session, "approved", "approved", occurredAt ?? DateTimeOffset.UtcNow, documentNumber), signedAt);
    }

    public static async Task<SubmitVerificationResultResponse> ApproveOrganisationAsync(
        this KycHostFixture fixture, string marketplace, Metadata op, string accountId, string registryId, int beneficialOwners = 2, DateTimeOffset? occurredAt = null, DateTimeOffset? signedAt = null)
    {
        var session = await fixture.StartOrganisationAsync(marketplace, op, accountId);
        return await fixture.SubmitAsync(Results.Organisation(session, "approved", "approved", occurredAt ?? DateTimeOffset.UtcNow, registryId, beneficialOwners), signedAt);
    }

    public static async Task<Account> AccountAsync(this KycHostFixture fixture, string marketplace, string accountId) =>
        (await fixture.Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = accountId }, fixture.Auth("service", null))).Account;
}
