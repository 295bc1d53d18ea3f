using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Oversight.Hosting.Outbox;
using Oversight.Kyc.Data;

namespace Oversight.Kyc.Accounts;

/// <summary>
/// Steps an account down when the verification that grants its tier has expired (issue 4,
/// item 1): to the highest rung it still qualifies for, with the reason "verification expired",
/// the actor "system", and AccountTierChanged through the outbox in the same transaction.
/// </summary>
public static class VerificationExpiry
{
    public const string Reason = "verification expired";
    public const string Actor = "system";

    /// <summary>
    /// Applies the expiry to one tracked account if its tier's verification has run out by
    /// <paramref name="now"/>; adds the change to the caller's unit of work and returns whether
    /// anything changed (the caller saves).
    /// </summary>
    public static async Task<bool> ApplyIfDueAsync(KycDbContext db, PolicySource policies, AccountRecord account, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (account.TierExpiresAt is not { } expiresAt || expiresAt > now)
        {
            return false;
        }

        var qualifications = await Qualifications.LoadAsync(db, account, now, cancellationToken);
        var (version, policy) = await policies.CurrentAsync(db, account.MarketplaceId, cancellationToken);
        var granted = qualifications.GrantedLevel(policy);
        if (granted < AccountChanges.LevelOn(policy, account))
        {
            AccountChanges.ChangeTier(db, account, policy, version, granted, Reason, Actor, now);
            account.TierExpiresAt = qualifications.ExpiryFor(policy.Tier(granted).Requirement);
        }
        else
        {
            // A newer verification of the same kind still holds the tier: only its end moves.
            var held = await policies.ResolveAsync(db, account.PolicyVersion, account.MarketplaceId, cancellationToken);
            account.TierExpiresAt = qualifications.ExpiryFor(held.Tier(account.TierLevel).Requirement);
        }

        return true;
    }
}

/// <summary>
/// Looks for expired tiers every "Oversight:Kyc:Verification:ExpiryCheckSeconds" by the host's
/// <see cref="TimeProvider"/> (the simulation clock included) and applies
/// <see cref="VerificationExpiry"/> to each. Several replicas may run it: the account's
/// sequence is a concurrency token, so a tier steps down once.
/// </summary>
public sealed class VerificationExpiryService(
    IServiceScopeFactory scopes,
    TimeProvider clock,
    OutboxSignal outboxSignal,
    IOptions<KycOptions> options,
    ILogger<VerificationExpiryService> logger) : BackgroundService
{
    private const int BatchSize = 200;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(options.Value.Verification.ExpiryCheckSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                // The database is away: nothing is lost, the next sweep finds the same accounts.
                logger.LogWarning(exception, "Verification expiry sweep failed; retrying in {Interval}", interval);
            }

            try
            {
                await Task.Delay(interval, clock, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Steps down every account whose tier has expired by the clock's now; returns how many changed.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KycDbContext>();
        var policies = scope.ServiceProvider.GetRequiredService<PolicySource>();
        var cache = scope.ServiceProvider.GetRequiredService<AccountCache>();
        var changed = 0;
        var skipped = new HashSet<(string, string)>();
        while (true)
        {
            var due = (await DueAsync(db, now, cancellationToken)).Where(key => !skipped.Contains(key)).ToList();
            if (due.Count == 0)
            {
                break;
            }

            foreach (var (marketplaceId, accountId) in due)
            {
                db.ChangeTracker.Clear();
                try
                {
                    var account = await db.Accounts.FirstOrDefaultAsync(a => a.MarketplaceId == marketplaceId && a.AccountId == accountId, cancellationToken);
                    if (account is not null && await VerificationExpiry.ApplyIfDueAsync(db, policies, account, now, cancellationToken))
                    {
                        await db.SaveChangesAsync(cancellationToken);
                        await cache.InvalidateAsync(marketplaceId, accountId);
                        changed++;
                    }
                    else
                    {
                        skipped.Add((marketplaceId, accountId));
                    }
                }
                catch (DbUpdateException exception)
                {
                    // A concurrent change of the account (or another replica's sweep) won: look again next time.
                    logger.LogDebug(exception, "Expiry of {MarketplaceId}/{AccountId} raced a concurrent change", marketplaceId, accountId);
                    skipped.Add((marketplaceId, accountId));
                }
            }
        }

        if (changed > 0)
        {
            outboxSignal.Notify();
            logger.LogInformation("{Count} account(s) stepped down: verification expired", changed);
        }

        return changed;
    }

    private static async Task<List<(string MarketplaceId, string AccountId)>> DueAsync(KycDbContext db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var withExpiry = db.Accounts.AsNoTracking().Where(a => a.TierExpiresAt != null);
        if (db.Database.IsSqlite())
        {
            // SQLite stores DateTimeOffset as text and cannot compare it in SQL; the embedded
            // default holds few verified accounts, so they are compared here.
            var all = await withExpiry.Select(a => new { a.MarketplaceId, a.AccountId, a.TierExpiresAt }).ToListAsync(cancellationToken);
            return all.Where(a => a.TierExpiresAt <= now).Take(BatchSize).Select(a => (a.MarketplaceId, a.AccountId)).ToList();
        }

        var rows = await withExpiry.Where(a => a.TierExpiresAt <= now)
            .OrderBy(a => a.TierExpiresAt)
            .Take(BatchSize)
            .Select(a => new { a.MarketplaceId, a.AccountId })
            .ToListAsync(cancellationToken);
        return rows.Select(a => (a.MarketplaceId, a.AccountId)).ToList();
    }
}
