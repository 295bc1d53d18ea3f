using Microsoft.EntityFrameworkCore;
using Oversight.Contracts;
using Oversight.Hosting.Outbox;
using Oversight.Kyc.Accounts;
using Oversight.Kyc.Data;

namespace Oversight.Kyc.Links;

/// <summary>Why accounts were linked, as AccountsLinked.Basis names it.</summary>
public static class LinkBasis
{
    public const string IdentityDocument = "IDENTITY_DOCUMENT";
    public const string OrganisationRegistry = "ORGANISATION_REGISTRY";
    public const string Operator = "OPERATOR";
}

/// <summary>The cluster after a link: its root, every account of it, and whether the link changed anything.</summary>
public sealed record ClusterResult(string ClusterRoot, IReadOnlyList<string> AccountIds, bool Changed);

/// <summary>
/// Sybil links (DESIGN.md, Sybil links): linked accounts of one marketplace form clusters, the
/// connected components of the link graph. Every account stores its cluster's root, so a
/// cluster is "the accounts with this root" and a link merges whole clusters.
/// <para>
/// The root is the cluster's oldest account (earliest CreatedAt, ties broken by the ordinal
/// order of account ids). There is no unlinking, so a root only changes when its cluster merges
/// with a cluster holding an older account, and the merged cluster's root is always one of the
/// two former roots: enforcement's counters then move to that root's hash tag.
/// </para>
/// Concurrent changes are safe by optimistic concurrency, retried by the caller: every member
/// of a merged cluster gets its next sequence (the account's concurrency token), so two links
/// touching one cluster cannot both commit on what they read; and the marketplace's
/// <see cref="MarketplaceClusterStateRecord"/> (also a concurrency token) hands out
/// ClusterVersion, so versions are unique and increase in commit order. Each change publishes
/// AccountsLinked with the whole cluster through the outbox, in the caller's unit of work.
/// </summary>
public static class ClusterLinker
{
    public static async Task<ClusterResult> LinkAsync(
        KycDbContext db, string marketplaceId, IReadOnlyList<AccountRecord> accounts, string basis, string reason, string actor, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        // Read first: a link committed after this read makes this one's update of the row fail and retry.
        var state = await db.ClusterStates.FirstOrDefaultAsync(s => s.MarketplaceId == marketplaceId, cancellationToken);
        var roots = accounts.Select(a => a.ClusterRoot).Distinct(StringComparer.Ordinal).ToList();
        // Tracked query: the accounts given are tracked by the caller and come back as the same instances.
        var members = await db.Accounts
            .Where(a => a.MarketplaceId == marketplaceId && roots.Contains(a.ClusterRoot))
            .ToListAsync(cancellationToken);
        foreach (var account in accounts.Where(a => !members.Contains(a)))
        {
            members.Add(account);
        }

        if (roots.Count == 1)
        {
            return new ClusterResult(roots[0], Ids(members), Changed: false);
        }

        if (state is null)
        {
            state = new MarketplaceClusterStateRecord { MarketplaceId = marketplaceId };
            db.ClusterStates.Add(state);
        }

        var version = ++state.ClusterVersion;
        var root = Oldest(members).AccountId;
        foreach (var member in members)
        {
            member.ClusterRoot = root;

            // Every member's sequence moves, root changed or not: its concurrency token then makes a
            // concurrent change of any of these clusters (read before this one committed) retry.
            AccountChanges.NextSequence(member);
        }

        // The links themselves: a star from the first account named to each other one.
        var first = accounts[0];
        foreach (var other in accounts.Skip(1).Where(a => a.AccountId != first.AccountId))
        {
            db.AccountLinks.Add(new AccountLinkRecord
            {
                MarketplaceId = marketplaceId,
                AccountId = first.AccountId,
                LinkedAccountId = other.AccountId,
                Basis = basis,
                Reason = reason,
                Actor = actor,
                ClusterVersion = version,
                CreatedAt = now,
            });
        }

        var ids = Ids(members);
        db.AddEvent(new AccountsLinked(marketplaceId, root, ids, basis, version, now), now);
        foreach (var member in members.OrderBy(m => m.AccountId, StringComparer.Ordinal))
        {
            AccountChanges.Audit(db, AuditActions.AccountsLinked, marketplaceId, member.AccountId, actor,
                $"{basis.ToLowerInvariant()}: {reason}; cluster {root} of {ids.Count} accounts, version {version}", member.PolicyVersion, now);
        }

        return new ClusterResult(root, ids, Changed: true);
    }

    /// <summary>The root rule: earliest CreatedAt, then the ordinal smallest account id.</summary>
    public static AccountRecord Oldest(IEnumerable<AccountRecord> accounts) =>
        accounts.OrderBy(a => a.CreatedAt).ThenBy(a => a.AccountId, StringComparer.Ordinal).First();

    private static IReadOnlyList<string> Ids(IEnumerable<AccountRecord> members) =>
        members.Select(m => m.AccountId).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
}
