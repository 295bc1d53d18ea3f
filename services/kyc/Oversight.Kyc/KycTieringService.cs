using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Oversight.Contracts;
using Oversight.Hosting;
using Oversight.Hosting.Auth;
using Oversight.Hosting.Outbox;
using Oversight.Kyc.Accounts;
using Oversight.Kyc.Data;
using Oversight.Kyc.Purposes;
using Oversight.Kyc.Tokens;
using Oversight.Kyc.V1;
using Oversight.Kyc.Verification;

namespace Oversight.Kyc;

/// <summary>
/// oversight.kyc.v1.KycTiering, in partial files by topic: accounts and suspension (here),
/// purposes, verification (identity and organisation), links, tier tokens, erasure, audit log.
/// Every method checks, in this order: the caller's role (PERMISSION_DENIED), the request's
/// fields (INVALID_ARGUMENT naming the field), the caller's marketplace (PERMISSION_DENIED),
/// then the account (NOT_FOUND). A change and its outbox event commit in one SaveChanges.
/// </summary>
[Authorize]
public sealed partial class KycTieringService(
    KycDbContext db,
    PolicySource policies,
    AccountCache cache,
    KycCrypto crypto,
    IEnumerable<IIdentityVerificationProvider> identityProviders,
    TierTokenKeys tokenKeys,
    IOptions<KycOptions> options,
    OutboxSignal outboxSignal,
    TimeProvider clock,
    ILogger<KycTieringService> logger) : KycTiering.KycTieringBase
{
    private const int MaxReasonLength = 500;

    public override async Task<CreateAccountResponse> CreateAccount(CreateAccountRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator, Roles.Admin);
        new Validation()
            .CheckId(request.MarketplaceId, "marketplace_id")
            .CheckId(request.AccountId, "account_id", required: false)
            .ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var marketplaceId = request.MarketplaceId;
        // 20 base32 characters = 100 random bits: collisions are not a practical concern.
        var accountId = string.IsNullOrEmpty(request.AccountId) ? "acct_" + RandomIds.Base32(20) : request.AccountId;
        var ct = context.CancellationToken;

        await WithConflictRetryAsync(async () =>
        {
            if (await db.Accounts.AnyAsync(a => a.MarketplaceId == marketplaceId && a.AccountId == accountId, ct))
            {
                throw new RpcException(new Status(StatusCode.AlreadyExists, $"account_id '{accountId}' already exists in marketplace_id '{marketplaceId}'."));
            }

            var now = clock.GetUtcNow();
            var (version, policy) = await policies.CurrentAsync(db, marketplaceId, ct);
            var tier = policy.Tier(0);
            var account = new AccountRecord
            {
                MarketplaceId = marketplaceId,
                AccountId = accountId,
                TierLevel = 0,
                TierId = tier.Id,
                CreatedAt = now,
                PolicyVersion = version,
                ClusterRoot = accountId,
            };
            db.Accounts.Add(account);
            AccountChanges.AddHistory(account, "created", caller.Actor, now);
            db.AddEvent(new AccountCreated(marketplaceId, accountId, 0, tier.Id, version, AccountChanges.NextSequence(account), now), now);
            AccountChanges.Audit(db, AuditActions.AccountCreated, marketplaceId, accountId, caller.Actor, "created", version, now);
            await CommitAsync(marketplaceId, accountId, ct);
            return true;
        });

        logger.LogInformation("Account {MarketplaceId}/{AccountId} created by {Actor}", marketplaceId, accountId, caller.Actor);
        return new CreateAccountResponse { Account = await LoadAccountAsync(marketplaceId, accountId, ct) };
    }

    public override async Task<GetAccountResponse> GetAccount(GetAccountRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator, Roles.Auditor, Roles.Compliance, Roles.Admin, Roles.Service);
        CheckAccountIds(request.MarketplaceId, request.AccountId).ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var ct = context.CancellationToken;
        if (!caller.IsService && await cache.GetAsync(request.MarketplaceId, request.AccountId, ct) is { } cached)
        {
            return new GetAccountResponse { Account = cached };
        }

        var account = await LoadAccountAsync(request.MarketplaceId, request.AccountId, ct);
        await cache.SetAsync(account, ct);
        return new GetAccountResponse { Account = account };
    }

    public override async Task<SuspendAccountResponse> SuspendAccount(SuspendAccountRequest request, ServerCallContext context) =>
        new() { Account = await SetSuspendedAsync(request.MarketplaceId, request.AccountId, request.Reason, suspend: true, context) };

    public override async Task<ReinstateAccountResponse> ReinstateAccount(ReinstateAccountRequest request, ServerCallContext context) =>
        new() { Account = await SetSuspendedAsync(request.MarketplaceId, request.AccountId, request.Reason, suspend: false, context) };

    /// <summary>
    /// Suspending a suspended account (or reinstating an active one) is FAILED_PRECONDITION,
    /// not a silent success: the caller learns that someone else already acted, and no
    /// second event is published.
    /// </summary>
    private async Task<Account> SetSuspendedAsync(string marketplaceId, string accountId, string reason, bool suspend, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Compliance, Roles.Admin);
        CheckAccountIds(marketplaceId, accountId).Also(v => CheckReason(v, reason)).ThrowIfInvalid();
        caller.RequireMarketplace(marketplaceId);
        var ct = context.CancellationToken;
        reason = reason.Trim();

        await WithConflictRetryAsync(async () =>
        {
            var account = await FindAccountAsync(marketplaceId, accountId, ct);
            if (account.Suspended == suspend)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition,
                    suspend ? "The account is already suspended." : "The account is not suspended."));
            }

            var now = clock.GetUtcNow();
            account.Suspended = suspend;
            var sequence = AccountChanges.NextSequence(account);
            if (suspend)
            {
                db.AddEvent(new AccountSuspended(marketplaceId, accountId, reason, caller.Actor, sequence, now), now);
            }
            else
            {
                db.AddEvent(new AccountReinstated(marketplaceId, accountId, reason, caller.Actor, sequence, now), now);
            }

            AccountChanges.AddHistory(account, (suspend ? "suspended: " : "reinstated: ") + reason, caller.Actor, now);
            AccountChanges.Audit(db, suspend ? AuditActions.AccountSuspended : AuditActions.AccountReinstated,
                marketplaceId, accountId, caller.Actor, reason, account.PolicyVersion, now);
            await CommitAsync(marketplaceId, accountId, ct);
            return true;
        });

        logger.LogInformation("Account {MarketplaceId}/{AccountId} {Action} by {Actor}", marketplaceId, accountId, suspend ? "suspended" : "reinstated", caller.Actor);
        return await LoadAccountAsync(marketplaceId, accountId, ct);
    }

    private static Validation CheckAccountIds(string marketplaceId, string accountId) =>
        new Validation().CheckId(marketplaceId, "marketplace_id").CheckId(accountId, "account_id");

    private static void CheckReason(Validation validation, string reason)
    {
        var trimmed = reason.Trim();
        validation.Check(trimmed.Length > 0, "reason", "reason is required.")
            .Check(trimmed.Length <= MaxReasonLength, "reason", $"reason must be at most {MaxReasonLength} characters.");
    }

    /// <summary>The account, tracked for change; NOT_FOUND when the marketplace has no such account.</summary>
    private async Task<AccountRecord> FindAccountAsync(string marketplaceId, string accountId, CancellationToken ct) =>
        await db.Accounts.FirstOrDefaultAsync(a => a.MarketplaceId == marketplaceId && a.AccountId == accountId, ct)
        ?? throw NotFound(marketplaceId, accountId);

    private static RpcException NotFound(string marketplaceId, string accountId) =>
        new(new Status(StatusCode.NotFound, $"account_id '{accountId}' does not exist in marketplace_id '{marketplaceId}'."));

    /// <summary>The account with its history: one indexed query (the policy ladders are in memory).</summary>
    private async Task<Account> LoadAccountAsync(string marketplaceId, string accountId, CancellationToken ct)
    {
        var record = await db.Accounts.AsNoTracking()
            .Include(a => a.History)
            .AsSingleQuery()
            .FirstOrDefaultAsync(a => a.MarketplaceId == marketplaceId && a.AccountId == accountId, ct)
            ?? throw NotFound(marketplaceId, accountId);
        var policyOf = await policies.ResolverAsync(db, marketplaceId, record.History.Select(h => h.PolicyVersion).Append(record.PolicyVersion), ct);
        return AccountMapper.ToProto(record, policyOf);
    }

    /// <summary>Commits the unit of work, wakes the outbox publisher and drops the cached account.</summary>
    private async Task CommitAsync(string marketplaceId, string accountId, CancellationToken ct)
    {
        await db.SaveChangesAsync(ct);
        outboxSignal.Notify();
        await cache.InvalidateAsync(marketplaceId, accountId);
    }

    /// <summary>
    /// Runs a read-modify-write again when a concurrent change won the race: the account's
    /// Sequence is a concurrency token, and unique keys (account id, provider event id,
    /// one purpose per account) reject a concurrent duplicate insert. The rerun sees the
    /// winner's state and answers accordingly (ALREADY_EXISTS, applied=false, ...).
    /// </summary>
    private async Task<T> WithConflictRetryAsync<T>(Func<Task<T>> operation)
    {
        const int attempts = 5;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await operation();
            }
            catch (DbUpdateException) when (attempt < attempts)
            {
                db.ChangeTracker.Clear();
                // A little jitter so that a burst of calls on one account does not collide again in lockstep.
                await Task.Delay(Random.Shared.Next(5, 20 * attempt));
            }
            catch (DbUpdateConcurrencyException)
            {
                throw new RpcException(new Status(StatusCode.Aborted, "The account changed concurrently too often; retry the call."));
            }
        }
    }
}

internal static class ValidationExtensions
{
    public static Validation Also(this Validation validation, Action<Validation> more)
    {
        more(validation);
        return validation;
    }
}
