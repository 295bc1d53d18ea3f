using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Oversight.Enforcement.Data;
using Oversight.Hosting.Auth;
using Oversight.Kyc.V1;

namespace Oversight.Enforcement.Accounts;

/// <summary>What applying an AccountsLinked changed: the roots whose tags lost members, and whether a newer link of the cluster was applied before.</summary>
public sealed record ClusterChange(IReadOnlyList<string> FormerRoots, bool Stale);

/// <summary>What enforcement knows of an account: its rung, suspension, cluster and erasure.</summary>
public sealed record AccountState(string MarketplaceId, string AccountId, int TierLevel, string TierId, bool Suspended, string ClusterRoot, long Sequence, bool Erased = false);

/// <summary>
/// Enforcement's copy of account tiers, fed by KYC's events. It is a cache: an account it
/// does not know, and a verdict that would ask for a step-up, are confirmed with KYC
/// (GetAccount, service role) before enforcement answers (DESIGN.md, Who holds the truth).
/// </summary>
public sealed class AccountDirectory(
    IServiceScopeFactory scopes,
    KycTiering.KycTieringClient kyc,
    ServiceTokenSource tokens,
    TimeProvider clock,
    IOptions<EnforcementOptions> options)
{
    public async Task<AccountState?> FindAsync(string marketplaceId, string accountId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EnforcementDbContext>();
        var record = await db.Accounts.AsNoTracking()
            .FirstOrDefaultAsync(a => a.MarketplaceId == marketplaceId && a.AccountId == accountId, cancellationToken);
        return record is null ? null : ToState(record);
    }

    /// <summary>Asks KYC; null when KYC does not know the account. Throws RpcException when KYC cannot answer.</summary>
    public async Task<AccountState?> ConfirmAsync(string marketplaceId, string accountId, CancellationToken cancellationToken)
    {
        GetAccountResponse reply;
        try
        {
            reply = await kyc.GetAccountAsync(
                new GetAccountRequest { MarketplaceId = marketplaceId, AccountId = accountId },
                new Metadata { { "Authorization", $"Bearer {tokens.Current()}" } },
                deadline: DateTime.UtcNow.AddSeconds(options.Value.PeerCallTimeoutSeconds),
                cancellationToken: cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return null;
        }

        var account = reply.Account;
        var state = new AccountState(marketplaceId, accountId, account.Tier.Level, account.Tier.Id, account.Suspended,
            string.IsNullOrEmpty(account.ClusterRoot) ? accountId : account.ClusterRoot, account.Sequence, account.Erased);
        return await ApplyAsync(state, cancellationToken);
    }

    /// <summary>
    /// Stores a newer view of an account (from KYC's answer or event); an older one than
    /// what is stored changes nothing, except that it may tell of an erasure. Returns what is
    /// stored afterwards.
    /// </summary>
    /// <remarks>
    /// The cluster root of an account already stored is not taken from <paramref name="state"/>:
    /// it moves only with AccountsLinked (<see cref="ApplyClusterAsync"/>), which also moves the
    /// account's counters and holds to the root's tag and finds the tags to clear by the root it
    /// replaces. KYC's answer names the new root as soon as the link commits, before its event
    /// arrives, and an event's view read before the link was applied names the old one: taking
    /// either here would judge the account on a tag without its usage, or hide the former root
    /// from the link so that its usage and holds never reach the cluster's budget.
    /// </remarks>
    public async Task<AccountState> ApplyAsync(AccountState state, CancellationToken cancellationToken, Func<AccountCopyRecord, AccountState, bool>? isNewer = null)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EnforcementDbContext>();
        for (var attempt = 1; ; attempt++)
        {
            var record = await db.Accounts.FirstOrDefaultAsync(a => a.MarketplaceId == state.MarketplaceId && a.AccountId == state.AccountId, cancellationToken);
            if (record is null)
            {
                record = new AccountCopyRecord { MarketplaceId = state.MarketplaceId, AccountId = state.AccountId, Sequence = -1, ClusterRoot = state.ClusterRoot };
                db.Accounts.Add(record);
            }

            var newer = (isNewer ?? ((stored, incoming) => incoming.Sequence > stored.Sequence))(record, state);
            // Erasure is never undone, so it holds in whatever order it is learnt (AccountErased has no sequence).
            var learnsErasure = state.Erased && !record.Erased;
            if (!newer && !learnsErasure)
            {
                return ToState(record);
            }

            if (newer)
            {
                record.TierLevel = state.TierLevel;
                record.TierId = state.TierId;
                record.Suspended = state.Suspended;
                record.Sequence = Math.Max(record.Sequence, state.Sequence);
            }

            record.Erased |= state.Erased;
            record.UpdatedAt = clock.GetUtcNow();
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                return ToState(record);
            }
            catch (DbUpdateException) when (attempt < 5)
            {
                // A concurrent writer inserted the same account: read it again and compare.
                db.ChangeTracker.Clear();
            }
        }
    }

    /// <summary>
    /// Moves the members of a cluster to its root, unless this account already holds a newer
    /// cluster version (events may arrive late or twice). Returns the former roots whose tags
    /// lost members (none when nothing changed), and whether a member already holds a newer
    /// cluster version (the event is stale: a later link of this cluster was applied).
    /// </summary>
    public async Task<ClusterChange> ApplyClusterAsync(
        string marketplaceId, string clusterRoot, IReadOnlyCollection<string> members, long clusterVersion, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EnforcementDbContext>();
        var records = await db.Accounts
            .Where(a => a.MarketplaceId == marketplaceId && members.Contains(a.AccountId))
            .ToListAsync(cancellationToken);
        var formerRoots = new HashSet<string>(StringComparer.Ordinal);
        var changed = false;
        foreach (var record in records.Where(r => clusterVersion > r.ClusterVersion))
        {
            var former = string.IsNullOrEmpty(record.ClusterRoot) ? record.AccountId : record.ClusterRoot;
            if (former != clusterRoot)
            {
                formerRoots.Add(former);
            }

            record.ClusterRoot = clusterRoot;
            record.ClusterVersion = clusterVersion;
            record.UpdatedAt = clock.GetUtcNow();
            changed = true;
        }

        if (changed)
        {
            await db.SaveChangesAsync(cancellationToken);
        }

        return new ClusterChange(changed ? [.. formerRoots] : [], records.Any(r => r.ClusterVersion > clusterVersion));
    }

    /// <summary>The accounts whose counters live under a cluster root's tag (the root itself included).</summary>
    public async Task<IReadOnlyList<string>> ClusterMembersAsync(string marketplaceId, string clusterRoot, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EnforcementDbContext>();
        var members = await db.Accounts.AsNoTracking()
            .Where(a => a.MarketplaceId == marketplaceId && a.ClusterRoot == clusterRoot)
            .Select(a => a.AccountId)
            .ToListAsync(cancellationToken);
        if (!members.Contains(clusterRoot))
        {
            members.Add(clusterRoot);
        }

        return members;
    }

    /// <summary>Every cluster root (hash tag) enforcement knows, of one marketplace or (null) of all.</summary>
    public async Task<IReadOnlyList<(string MarketplaceId, string ClusterRoot)>> ClusterRootsAsync(string? marketplaceId, CancellationToken cancellationToken)
    {
        var roots = await RootsByAccountAsync(marketplaceId, cancellationToken);
        return roots.Select(r => (r.Key.MarketplaceId, r.Value)).Distinct().ToList();
    }

    /// <summary>Each known account's cluster root, of one marketplace or (null) of all.</summary>
    public async Task<IReadOnlyDictionary<(string MarketplaceId, string AccountId), string>> RootsByAccountAsync(string? marketplaceId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EnforcementDbContext>();
        var query = db.Accounts.AsNoTracking();
        if (marketplaceId is not null)
        {
            query = query.Where(a => a.MarketplaceId == marketplaceId);
        }

        var rows = await query.Select(a => new { a.MarketplaceId, a.AccountId, a.ClusterRoot }).ToListAsync(cancellationToken);
        return rows.ToDictionary(
            r => (r.MarketplaceId, r.AccountId),
            r => string.IsNullOrEmpty(r.ClusterRoot) ? r.AccountId : r.ClusterRoot);
    }

    private static AccountState ToState(AccountCopyRecord record) => new(
        record.MarketplaceId, record.AccountId, record.TierLevel, record.TierId, record.Suspended,
        string.IsNullOrEmpty(record.ClusterRoot) ? record.AccountId : record.ClusterRoot, record.Sequence, record.Erased);
}
