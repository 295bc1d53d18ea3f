using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Logging;
using Oversight.Hosting;
using Oversight.Hosting.Auth;
using Oversight.Kyc.Accounts;
using Oversight.Kyc.Tokens;
using Oversight.Kyc.V1;
using PolicyRequirement = Oversight.Policy.RequirementKind;

namespace Oversight.Kyc;

public sealed partial class KycTieringService
{
    public const int MaxAudienceLength = 256;

    /// <summary>
    /// A short-lived ES256 JWT that a marketplace hands to a provider (the audience), who verifies
    /// it offline with GetTierTokenKeys: it says the account's tier and nothing else. A suspended
    /// or erased account gets none (FAILED_PRECONDITION); a tier whose verification has expired is
    /// stepped down first, so a token never claims more than the account holds.
    /// </summary>
    public override async Task<IssueTierTokenResponse> IssueTierToken(IssueTierTokenRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator);
        var settings = tokenKeys.Options;
        CheckAccountIds(request.MarketplaceId, request.AccountId)
            .Check(IsAudience(request.Audience), "audience",
                $"audience is required: 1-{MaxAudienceLength} printable ASCII characters without spaces (the verifier, e.g. a provider id or URL).")
            .Check(request.TtlSeconds >= 0, "ttl_seconds",
                $"ttl_seconds must be 0 (the default, {Math.Min(settings.DefaultTtlSeconds, settings.MaxTtlSeconds)} s) or positive (capped at {settings.MaxTtlSeconds} s).")
            .ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var (marketplaceId, accountId, ct) = (request.MarketplaceId, request.AccountId, context.CancellationToken);
        var account = await WithConflictRetryAsync(async () =>
        {
            var record = await FindAccountAsync(marketplaceId, accountId, ct);
            RefuseErased(record);
            if (record.Suspended)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, "The account is suspended: it holds no tier a token could vouch for."));
            }

            if (await VerificationExpiry.ApplyIfDueAsync(db, policies, record, clock.GetUtcNow(), ct))
            {
                await CommitAsync(marketplaceId, accountId, ct);
            }

            return record;
        });

        // JWT times are whole seconds; the response's expires_at is exactly the token's exp.
        var now = DateTimeOffset.FromUnixTimeSeconds(clock.GetUtcNow().ToUnixTimeSeconds());
        var ttl = request.TtlSeconds == 0 ? settings.DefaultTtlSeconds : request.TtlSeconds;
        var expiresAt = now.AddSeconds(Math.Min(ttl, settings.MaxTtlSeconds));
        var policy = await policies.ResolveAsync(db, account.PolicyVersion, marketplaceId, ct);
        var tier = AccountMapper.ToTier(policy, account.TierLevel, account.TierId);
        var claims = new TierTokenClaims(account.AccountId, tier.Id, tier.Level, EnumNames.Name((PolicyRequirement)(int)tier.Requirement), account.PurposeCategory);
        var token = tokenKeys.Issue(claims, request.Audience, now, expiresAt);
        logger.LogDebug("Tier token for {MarketplaceId}/{AccountId} (tier {TierId}) issued to {Actor} until {ExpiresAt:O} with key {KeyId}",
            marketplaceId, accountId, tier.Id, caller.Actor, expiresAt, tokenKeys.CurrentKeyId);
        return new IssueTierTokenResponse { Token = token, ExpiresAt = Timestamp.FromDateTimeOffset(expiresAt), KeyId = tokenKeys.CurrentKeyId };
    }

    /// <summary>Public (no token): the JWKS of the current key and of rotated-out keys whose tokens may still be valid.</summary>
    [AllowAnonymous]
    public override Task<GetTierTokenKeysResponse> GetTierTokenKeys(GetTierTokenKeysRequest request, ServerCallContext context) =>
        Task.FromResult(new GetTierTokenKeysResponse { JwksJson = tokenKeys.JwksJson(clock.GetUtcNow()) });

    private static bool IsAudience(string audience) =>
        audience.Length is > 0 and <= MaxAudienceLength && audience.All(c => c is > ' ' and <= '~');
}
