using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Oversight.Hosting;
using Oversight.Hosting.Auth;
using Oversight.Kyc.Accounts;
using Oversight.Kyc.Data;
using Oversight.Kyc.V1;
using Oversight.Kyc.Verification;
using PolicyRequirement = Oversight.Policy.RequirementKind;

namespace Oversight.Kyc;

public sealed partial class KycTieringService
{
    private const string IdentityKind = "IDENTITY";

    public override async Task<StartIdentityVerificationResponse> StartIdentityVerification(StartIdentityVerificationRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator);
        CheckAccountIds(request.MarketplaceId, request.AccountId).ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var (marketplaceId, accountId, ct) = (request.MarketplaceId, request.AccountId, context.CancellationToken);
        var account = await FindAccountAsync(marketplaceId, accountId, ct);
        RefuseErased(account);
        var providerName = options.Value.Verification.IdentityProvider;
        var provider = identityProviders.FirstOrDefault(p => p.Name == providerName)
            ?? throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"Identity provider '{providerName}' (Oversight:Kyc:Verification:IdentityProvider) is not enabled on this host."));

        var session = await provider.StartSessionAsync(new VerificationSubject(marketplaceId, accountId), ct);
        var now = clock.GetUtcNow();
        db.Verifications.Add(new VerificationRecord
        {
            MarketplaceId = marketplaceId,
            AccountId = accountId,
            Kind = IdentityKind,
            Provider = provider.Name,
            SessionRef = session.SessionRef,
            Status = StatusName(VerificationOutcome.Pending),
            CreatedAt = now,
        });
        AccountChanges.Audit(db, AuditActions.VerificationStarted, marketplaceId, accountId, caller.Actor, $"identity session at {provider.Name}", account.PolicyVersion, now);
        await db.SaveChangesAsync(ct);
        logger.LogInformation("Identity verification {SessionRef} started for {MarketplaceId}/{AccountId} at {Provider}", session.SessionRef, marketplaceId, accountId, provider.Name);
        return new StartIdentityVerificationResponse { SessionRef = session.SessionRef, Provider = provider.Name, RedirectUrl = session.RedirectUrl };
    }

    /// <summary>
    /// The identity provider's callback. No bearer token: it is authenticated by the HMAC of
    /// <c>"{timestamp}." + payload</c> under one of the provider's active secrets, with the
    /// timestamp inside the replay window (UNAUTHENTICATED otherwise). Then the payload is read
    /// (INVALID_ARGUMENT naming <c>payload</c>) and applied by <see cref="VerificationIngest"/>:
    /// idempotent on (provider, event_id), never letting an older or lesser result override.
    /// </summary>
    [AllowAnonymous]
    public override async Task<SubmitVerificationResultResponse> SubmitVerificationResult(SubmitVerificationResultRequest request, ServerCallContext context)
    {
        var provider = identityProviders.FirstOrDefault(p => p.Name == request.Provider)
            ?? throw Unauthenticated("provider is not a configured identity provider.");
        if (request.Payload.Length > VerificationPayload.MaxBytes)
        {
            throw Validation.Invalid("payload", $"payload is larger than {VerificationPayload.MaxBytes} bytes.");
        }

        var now = clock.GetUtcNow();
        var window = options.Value.Verification.ReplayWindowSeconds;
        var skew = Math.Abs(now.ToUnixTimeSeconds() - request.TimestampUnixSeconds);
        if (skew > window)
        {
            throw Unauthenticated($"timestamp_unix_seconds is {skew} s away from the server's clock, outside the {window} s replay window; sign the result again with the current time.");
        }

        var secret = provider.FindCallbackSecret(request.SecretId)
            ?? throw Unauthenticated($"secret_id is not an active callback secret of provider '{provider.Name}'.");
        var payload = request.Payload.Span;
        if (!CallbackSignature.Verify(secret, request.TimestampUnixSeconds, payload, request.Signature))
        {
            throw Unauthenticated("signature is not the HMAC-SHA256 (hex) of \"{timestamp_unix_seconds}.\" + payload under the secret named by secret_id.");
        }

        VerificationResult result;
        try
        {
            result = provider.ParseResult(payload);
        }
        catch (VerificationPayloadException exception)
        {
            throw Validation.Invalid("payload", exception.Message);
        }

        var ct = context.CancellationToken;
        var response = await WithConflictRetryAsync(() => ApplyResultAsync(provider, result, now, ct));
        logger.LogInformation("Verification result {EventId} of {Provider} for session {SessionRef}: {Status}, applied {Applied}",
            result.EventId, provider.Name, result.SessionRef, result.Status, response.Applied);
        return response;
    }

    private async Task<SubmitVerificationResultResponse> ApplyResultAsync(IIdentityVerificationProvider provider, VerificationResult result, DateTimeOffset now, CancellationToken ct)
    {
        var verification = await db.Verifications.FirstOrDefaultAsync(v => v.SessionRef == result.SessionRef && v.Provider == provider.Name, ct)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"session_ref in payload is not a session of provider '{provider.Name}'."));
        var account = await FindAccountAsync(verification.MarketplaceId, verification.AccountId, ct);

        if (await db.ProviderEvents.AnyAsync(e => e.Provider == provider.Name && e.EventId == result.EventId, ct))
        {
            return await ResultResponseAsync(verification, account, applied: false, ct);
        }

        db.ProviderEvents.Add(new ProviderEventRecord { Provider = provider.Name, EventId = result.EventId, ReceivedAt = now });
        var last = verification.LastEventAt is { } lastAt
            ? new AppliedEvent(ParseStatus(verification.Status), lastAt, verification.LastEventId ?? "")
            : null;
        var applied = VerificationIngest.ShouldApply(last, result);
        if (applied)
        {
            verification.Status = StatusName(result.Status);
            verification.AssuranceLevel = result.AssuranceLevel;
            verification.LastEventAt = result.OccurredAt;
            verification.LastEventId = result.EventId;
            if (result.Status == VerificationOutcome.Approved)
            {
                ApplyApproval(verification, account, result, now);
                var (version, policy) = await policies.CurrentAsync(db, account.MarketplaceId, ct);
                var rung = verification.Kind == IdentityKind ? AccountChanges.LowestRungWith(policy, PolicyRequirement.Identity) : null;
                if (rung is { } identityRung && AccountChanges.LevelOn(policy, account) < identityRung)
                {
                    AccountChanges.ChangeTier(db, account, policy, version, identityRung, "identity verified", "provider:" + provider.Name, now);
                }

                var current = await policies.ResolveAsync(db, account.PolicyVersion, account.MarketplaceId, ct);
                if (current.Tier(account.TierLevel).Requirement == PolicyRequirement.Identity)
                {
                    account.TierExpiresAt = verification.ExpiresAt;
                }
            }
        }

        // Every authenticated, new result is audited, applied or not; the document number never is.
        AccountChanges.Audit(db, AuditActions.VerificationResult, account.MarketplaceId, account.AccountId, "provider:" + provider.Name,
            $"{verification.Kind.ToLowerInvariant()} result {StatusName(result.Status).ToLowerInvariant()} event {result.EventId}" + (applied ? "" : " ignored (older, or would downgrade)"),
            account.PolicyVersion, now);
        await CommitAsync(account.MarketplaceId, account.AccountId, ct);
        return await ResultResponseAsync(verification, account, applied, ct);
    }

    private void ApplyApproval(VerificationRecord verification, AccountRecord account, VerificationResult result, DateTimeOffset now)
    {
        verification.VerifiedAt = result.OccurredAt;
        verification.ExpiresAt = result.OccurredAt.AddDays(options.Value.Verification.ValidityDays);
        if (result.DocumentNumber is { } documentNumber)
        {
            // Only the keyed hash is kept (for sybil links); the number goes no further than this line.
            (verification.BlindIndex, verification.BlindIndexKeyVersion) = crypto.BlindIndex(documentNumber);
        }

        if (verification.ExpiresAt <= now)
        {
            logger.LogWarning("Approval {EventId} for {MarketplaceId}/{AccountId} is already past its validity", result.EventId, account.MarketplaceId, account.AccountId);
        }
    }

    private async Task<SubmitVerificationResultResponse> ResultResponseAsync(VerificationRecord verification, AccountRecord account, bool applied, CancellationToken ct)
    {
        var policy = await policies.ResolveAsync(db, account.PolicyVersion, account.MarketplaceId, ct);
        return new SubmitVerificationResultResponse
        {
            Applied = applied,
            SessionRef = verification.SessionRef,
            Status = ToProtoStatus(ParseStatus(verification.Status)),
            Tier = AccountMapper.ToTier(policy, account.TierLevel, account.TierId),
        };
    }

    private static RpcException Unauthenticated(string message) => new(new Status(StatusCode.Unauthenticated, message));

    private static string StatusName(VerificationOutcome status) => status switch
    {
        VerificationOutcome.Approved => "APPROVED",
        VerificationOutcome.Failed => "FAILED",
        _ => "PENDING",
    };

    private static VerificationOutcome ParseStatus(string status) => status switch
    {
        "APPROVED" => VerificationOutcome.Approved,
        "FAILED" => VerificationOutcome.Failed,
        _ => VerificationOutcome.Pending,
    };

    private static VerificationStatus ToProtoStatus(VerificationOutcome status) => status switch
    {
        VerificationOutcome.Approved => VerificationStatus.Approved,
        VerificationOutcome.Failed => VerificationStatus.Failed,
        _ => VerificationStatus.Pending,
    };
}
