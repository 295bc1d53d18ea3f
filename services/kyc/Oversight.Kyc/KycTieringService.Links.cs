using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Oversight.Hosting;
using Oversight.Hosting.Auth;
using Oversight.Kyc.Links;
using Oversight.Kyc.V1;

namespace Oversight.Kyc;

public sealed partial class KycTieringService
{
    public const int MaxLinkedAccountsPerCall = 100;

    /// <summary>
    /// An operator's or compliance officer's explicit link: the accounts named (two or more of the
    /// marketplace) and everything already linked to them become one cluster. AccountsLinked
    /// carries the whole cluster. Linking accounts that already share a cluster changes nothing
    /// and publishes nothing (a retried call is harmless).
    /// </summary>
    public override async Task<LinkAccountsResponse> LinkAccounts(LinkAccountsRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator, Roles.Compliance);
        var ids = request.AccountIds.ToList();
        var distinct = ids.Distinct(StringComparer.Ordinal).ToList();
        var validation = new Validation().CheckId(request.MarketplaceId, "marketplace_id");
        for (var i = 0; i < ids.Count && i < MaxLinkedAccountsPerCall; i++)
        {
            validation.CheckId(ids[i], $"account_ids[{i}]");
        }

        validation
            .Check(ids.Count <= MaxLinkedAccountsPerCall, "account_ids", $"account_ids may name at most {MaxLinkedAccountsPerCall} accounts per call.")
            .Check(distinct.Count >= 2, "account_ids", "account_ids must name at least two different accounts of the marketplace.")
            .Also(v => CheckReason(v, request.Reason))
            .ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var (marketplaceId, reason, ct) = (request.MarketplaceId, request.Reason.Trim(), context.CancellationToken);
        var cluster = await WithConflictRetryAsync(async () =>
        {
            var found = await db.Accounts.Where(a => a.MarketplaceId == marketplaceId && distinct.Contains(a.AccountId)).ToListAsync(ct);
            var missing = distinct.Where(id => found.All(a => a.AccountId != id)).ToList();
            if (missing.Count > 0)
            {
                throw new RpcException(new Status(StatusCode.NotFound,
                    $"account_ids: {string.Join(", ", missing.Select(m => $"'{m}'"))} {(missing.Count == 1 ? "does" : "do")} not exist in marketplace_id '{marketplaceId}'."));
            }

            var ordered = distinct.Select(id => found.Single(a => a.AccountId == id)).ToList();
            var result = await ClusterLinker.LinkAsync(db, marketplaceId, ordered, LinkBasis.Operator, reason, caller.Actor, clock.GetUtcNow(), ct);
            if (result.Changed)
            {
                await db.SaveChangesAsync(ct);
                outboxSignal.Notify();
                // Every member's cached answer is stale (cluster root or sequence).
                await cache.InvalidateManyAsync(marketplaceId, result.AccountIds);
            }

            return result;
        });

        logger.LogInformation("Accounts of {MarketplaceId} linked by {Actor}: cluster {ClusterRoot} of {Count} (changed {Changed})",
            marketplaceId, caller.Actor, cluster.ClusterRoot, cluster.AccountIds.Count, cluster.Changed);
        return new LinkAccountsResponse { ClusterRoot = cluster.ClusterRoot, ClusterAccountIds = { cluster.AccountIds } };
    }
}
