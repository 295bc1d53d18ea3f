using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Oversight.Hosting;
using Oversight.Hosting.Auth;
using Oversight.Kyc.Accounts;
using Oversight.Kyc.Data;
using Oversight.Kyc.Links;
using Oversight.Kyc.V1;
using Oversight.Kyc.Verification;
using PolicyRequirement = Oversight.Policy.RequirementKind;

namespace Oversight.Kyc;

public sealed partial class KycTieringService
{
    public override Task<StartIdentityVerificationResponse> StartIdentityVerification(StartIdentityVerificationRequest request, ServerCallContext context) =>
        StartVerificationAsync(request.MarketplaceId, request.AccountId, VerificationType.Identity, context,
            session => new StartIdentityVerificationResponse { SessionRef = session.SessionRef, Provider = session.Provider, RedirectUrl = session.RedirectUrl });

    /// <summary>
    /// Organisation verification, a step of its own (issue 4, item 4): the provider's result comes
    /// back through the same callback with kind "organisation", a registry identifier (kept only
    /// as a blind index) and an attested number of beneficial owners; approval gives the highest
    /// rung whose requirement is ORGANISATION.
    /// </summary>
    public override Task<StartOrganisationVerificationResponse> StartOrganisationVerification(StartOrganisationVerificationRequest request, ServerCallContext context) =>
        StartVerificationAsync(request.MarketplaceId, request.AccountId, VerificationType.Organisation, context,
            session => new StartOrganisationVerificationResponse { SessionRef = session.SessionRef, Provider = session.Provider, RedirectUrl = session.RedirectUrl });

    private async Task<T> StartVerificationAsync<T>(string marketplaceId, string accountId, VerificationType kind, ServerCallContext context,
        Func<(string SessionRef, string Provider, string RedirectUrl), T> respond)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator);
        CheckAccountIds(marketplaceId, accountId).ThrowIfInvalid();
        caller.RequireMarketplace(marketplaceId);

        var ct = context.CancellationToken;
        var account = await FindAccountAsync(marketplaceId, accountId, ct);
        RefuseErased(account);
        var (providerName, setting) = kind == VerificationType.Organisation
            ? (options.Value.Verification.OrganisationProvider, "OrganisationProvider")
            : (options.Value.Verification.IdentityProvider, "IdentityProvider");
        var provider = identityProviders.FirstOrDefault(p => p.Name == providerName)
            ?? throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"Verification provider '{providerName}' (Oversight:Kyc:Verification:{setting}) is not enabled on this host."));

        var session = await provider.StartSessionAsync(new VerificationSubject(marketplaceId, accountId, kind), ct);
        var now = clock.GetUtcNow();
        var kindName = Qualifications.KindName(kind);
        db.Verifications.Add(new VerificationRecord
        {
            MarketplaceId = marketplaceId,
            AccountId = accountId,
            Kind = kindName,
            Provider = provider.Name,
            SessionRef = session.SessionRef,
            Status = StatusName(VerificationOutcome.Pending),
            CreatedAt = now,
        });
        AccountChanges.Audit(db, AuditActions.VerificationStarted, marketplaceId, accountId, caller.Actor, $"{kindName.ToLowerInvariant()} session at {provider.Name}", account.PolicyVersion, now);
        await db.SaveChangesAsync(ct);
        logger.LogInformation("{Kind} verification {SessionRef} started for {MarketplaceId}/{AccountId} at {Provider}", kindName, session.SessionRef, marketplaceId, accountId, provider.Name);
        return respond((session.SessionRef, provider.Name, session.RedirectUrl));
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

        // A result from the future would outrank every real one (results are ordered by
        // occurred_at) and stretch the tier's validity: the same tolerance as the callback's timestamp.
        if (result.OccurredAt > now.AddSeconds(window))
        {
            throw Validation.Invalid("payload", $"occurred_at {result.OccurredAt.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'} is later than the server's clock ({now.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}) by more than the {window} s replay window; a result cannot be dated in the future.");
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
        var kindName = Qualifications.KindName(result.Kind);
        if (verification.Kind != kindName)
        {
            throw Validation.Invalid("payload", $"kind {kindName.ToLowerInvariant()} does not match the session, which verifies {verification.Kind.ToLowerInvariant()}.");
        }

        var account = await FindAccountAsync(verification.MarketplaceId, verification.AccountId, ct);
        if (await db.ProviderEvents.AnyAsync(e => e.Provider == provider.Name && e.EventId == result.EventId, ct))
        {
            return await ResultResponseAsync(verification, account, applied: false, ct);
        }

        db.ProviderEvents.Add(new ProviderEventRecord { Provider = provider.Name, EventId = result.EventId, ReceivedAt = now });
        var last = verification.LastEventAt is { } lastAt
            ? new AppliedEvent(ParseStatus(verification.Status), lastAt, verification.LastEventId ?? "")
            : null;
        // An erased account takes no new result: a late approval must not bring a blind index back.
        var applied = account.ErasedAt is null && VerificationIngest.ShouldApply(last, result);
        IReadOnlyList<string> relinked = [];
        if (applied)
        {
            verification.Status = StatusName(result.Status);
            verification.AssuranceLevel = result.AssuranceLevel;
            verification.LastEventAt = result.OccurredAt;
            verification.LastEventId = result.EventId;
            if (result.Status == VerificationOutcome.Approved)
            {
                var sequence = account.Sequence;
                relinked = await ApplyApprovalAsync(verification, account, result, provider.Name, now, ct);
                if (account.Sequence == sequence)
                {
                    // No tier move: the sequence still moves, so that an erasure committed since the
                    // account was read makes this commit retry (and then refuse) instead of storing
                    // a blind index for an erased account.
                    AccountChanges.NextSequence(account);
                }
            }
        }

        // Every authenticated, new result is audited, applied or not; the document number and registry id never are.
        var ignored = account.ErasedAt is not null ? " ignored (account erased)" : applied ? "" : " ignored (older, or would downgrade)";
        AccountChanges.Audit(db, AuditActions.VerificationResult, account.MarketplaceId, account.AccountId, "provider:" + provider.Name,
            $"{verification.Kind.ToLowerInvariant()} result {StatusName(result.Status).ToLowerInvariant()} event {result.EventId}{ignored}",
            account.PolicyVersion, now);
        await db.SaveChangesAsync(ct);
        outboxSignal.Notify();
        await cache.InvalidateManyAsync(account.MarketplaceId, relinked.Append(account.AccountId));
        return await ResultResponseAsync(verification, account, applied, ct);
    }

    /// <summary>
    /// An applied approval: verified-at, expiry, the blind index (document number or registry
    /// id), the beneficial-owner count; the account moves up to the rung the verification gives
    /// (unless the approval is already past its validity), and other accounts of the marketplace
    /// with the same blind index are linked to it. Returns the accounts of a cluster the approval changed.
    /// </summary>
    private async Task<IReadOnlyList<string>> ApplyApprovalAsync(VerificationRecord verification, AccountRecord account, VerificationResult result, string providerName, DateTimeOffset now, CancellationToken ct)
    {
        verification.VerifiedAt = result.OccurredAt;
        verification.ExpiresAt = result.OccurredAt.AddDays(options.Value.Verification.ValidityDays);
        var organisation = result.Kind == VerificationType.Organisation;
        // Only the keyed hash is kept (for sybil links); the number goes no further than these lines.
        if (!organisation && result.DocumentNumber is { } documentNumber)
        {
            (verification.BlindIndex, verification.BlindIndexKeyVersion) = crypto.BlindIndex(documentNumber);
        }
        else if (organisation && result.RegistryId is { } registryId)
        {
            (verification.BlindIndex, verification.BlindIndexKeyVersion) = crypto.RegistryBlindIndex(registryId);
        }

        if (organisation)
        {
            verification.BeneficialOwnerCount = result.BeneficialOwnerCount;
        }

        var (version, policy) = await policies.CurrentAsync(db, account.MarketplaceId, ct);
        if (verification.ExpiresAt <= now)
        {
            logger.LogWarning("Approval {EventId} for {MarketplaceId}/{AccountId} is already past its validity; the tier does not change", result.EventId, account.MarketplaceId, account.AccountId);
        }
        else
        {
            var rung = organisation
                ? AccountChanges.HighestRungWith(policy, PolicyRequirement.Organisation)
                : AccountChanges.LowestRungWith(policy, PolicyRequirement.Identity);
            if (rung is { } target && AccountChanges.LevelOn(policy, account) < target)
            {
                AccountChanges.ChangeTier(db, account, policy, version, target, organisation ? "organisation verified" : "identity verified", "provider:" + providerName, now);
            }
        }

        var qualifications = await Qualifications.LoadAsync(db, account, now, ct);
        var current = await policies.ResolveAsync(db, account.PolicyVersion, account.MarketplaceId, ct);
        account.TierExpiresAt = qualifications.ExpiryFor(current.Tier(account.TierLevel).Requirement);

        return verification.BlindIndex is { } index
            ? await LinkSameBlindIndexAsync(verification, account, index, organisation ? LinkBasis.OrganisationRegistry : LinkBasis.IdentityDocument, now, ct)
            : [];
    }

    /// <summary>Links the account with every other account of its marketplace whose approved verification of the same kind has the same blind index.</summary>
    private async Task<IReadOnlyList<string>> LinkSameBlindIndexAsync(VerificationRecord verification, AccountRecord account, string index, string basis, DateTimeOffset now, CancellationToken ct)
    {
        var keyVersion = verification.BlindIndexKeyVersion;
        var matches = await db.Verifications.AsNoTracking()
            .Where(v => v.MarketplaceId == account.MarketplaceId && v.Kind == verification.Kind && v.BlindIndex == index &&
                        v.BlindIndexKeyVersion == keyVersion && v.AccountId != account.AccountId)
            .Select(v => v.AccountId)
            .Distinct()
            .ToListAsync(ct);
        if (matches.Count == 0)
        {
            return [];
        }

        var others = await db.Accounts.Where(a => a.MarketplaceId == account.MarketplaceId && matches.Contains(a.AccountId)).ToListAsync(ct);
        var reason = basis == LinkBasis.OrganisationRegistry ? "same organisation registry id" : "same identity document";
        var cluster = await ClusterLinker.LinkAsync(db, account.MarketplaceId, [account, .. others.OrderBy(o => o.AccountId, StringComparer.Ordinal)], basis, reason, "system", now, ct);
        if (cluster.Changed)
        {
            logger.LogInformation("Accounts of {MarketplaceId} linked ({Basis}): cluster {ClusterRoot} of {Count}", account.MarketplaceId, basis, cluster.ClusterRoot, cluster.AccountIds.Count);
        }

        return cluster.Changed ? cluster.AccountIds : [];
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
