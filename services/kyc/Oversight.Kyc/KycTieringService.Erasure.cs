using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Oversight.Contracts;
using Oversight.Hosting;
using Oversight.Hosting.Auth;
using Oversight.Hosting.Outbox;
using Oversight.Kyc.Accounts;
using Oversight.Kyc.V1;

namespace Oversight.Kyc;

public sealed partial class KycTieringService
{
    /// <summary>
    /// Erasure (issue 4, item 7), by compliance or admin with a reason, in one transaction:
    /// <list type="bullet">
    /// <item>the account's wrapped data key is deleted: whatever was sealed under it is
    /// crypto-shredded, in this database and in every backup of it;</item>
    /// <item>the stated purpose row is deleted too (ciphertext, nonce, tag and the keyed hash of
    /// the text): nothing of it is kept, not even unreadable;</item>
    /// <item>the blind indexes of its identity document and registry id, and the attested
    /// beneficial-owner count, are cleared from its verifications;</item>
    /// <item>the account steps down to rung 0 (the evidence for any higher rung is gone), with
    /// AccountTierChanged, its next step is cleared (it can take none), and AccountErased is
    /// published; both events through the outbox.</item>
    /// </list>
    /// What stays is pseudonymous: the account id, its tier history, verification statuses and
    /// times, links, the audit log, and the usage counted elsewhere. Later StatePurpose,
    /// ReadPurpose, verifications and tier tokens answer FAILED_PRECONDITION; so does a second erasure.
    /// </summary>
    public override async Task<EraseAccountResponse> EraseAccount(EraseAccountRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Compliance, Roles.Admin);
        CheckAccountIds(request.MarketplaceId, request.AccountId).Also(v => CheckReason(v, request.Reason)).ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var (marketplaceId, accountId, reason, ct) = (request.MarketplaceId, request.AccountId, request.Reason.Trim(), context.CancellationToken);
        var erasedAt = await WithConflictRetryAsync(async () =>
        {
            var account = await FindAccountAsync(marketplaceId, accountId, ct);
            if (account.ErasedAt is not null)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, "The account was already erased."));
            }

            var now = clock.GetUtcNow();
            db.AccountKeys.RemoveRange(await db.AccountKeys.Where(k => k.MarketplaceId == marketplaceId && k.AccountId == accountId).ToListAsync(ct));
            db.StatedPurposes.RemoveRange(await db.StatedPurposes.Where(p => p.MarketplaceId == marketplaceId && p.AccountId == accountId).ToListAsync(ct));
            foreach (var verification in await db.Verifications.Where(v => v.MarketplaceId == marketplaceId && v.AccountId == accountId).ToListAsync(ct))
            {
                verification.BlindIndex = null;
                verification.BlindIndexKeyVersion = null;
                verification.BeneficialOwnerCount = null;
            }

            account.ErasedAt = now;
            account.PurposeCategory = null;
            var (version, policy) = await policies.CurrentAsync(db, marketplaceId, ct);
            if (AccountChanges.LevelOn(policy, account) > 0)
            {
                AccountChanges.ChangeTier(db, account, policy, version, 0, "account erased", caller.Actor, now);
            }

            account.TierExpiresAt = null;
            // An erased account can take no step (StatePurpose and the verifications refuse it).
            AccountChanges.ClearNextStep(account);
            AccountChanges.NextSequence(account);
            db.AddEvent(new AccountErased(marketplaceId, accountId, now), now);
            AccountChanges.Audit(db, AuditActions.AccountErased, marketplaceId, accountId, caller.Actor, reason, account.PolicyVersion, now);
            await CommitAsync(marketplaceId, accountId, ct);
            return now;
        });

        logger.LogInformation("Account {MarketplaceId}/{AccountId} erased by {Actor}", marketplaceId, accountId, caller.Actor);
        return new EraseAccountResponse { ErasedAt = Timestamp.FromDateTimeOffset(erasedAt) };
    }
}
