using Google.Protobuf;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Oversight.Kyc.V1;

namespace Oversight.Kyc.Accounts;

/// <summary>
/// Accounts as GetAccount returns them, cached in an IDistributedCache (Redis when
/// "Oversight:Kyc:Redis:Configuration" is set, else in process) and removed after every
/// committed change. The database stays the truth: a cache failure falls back to it, never
/// to an answer. Enforcement's confirmations (service role) always read the database, since
/// they exist to avoid refusing on stale data (DESIGN.md, Who holds the truth).
/// </summary>
public sealed class AccountCache(
    [FromKeyedServices(AccountCache.ServiceKey)] IDistributedCache cache,
    IOptions<KycOptions> options,
    ILogger<AccountCache> logger)
{
    /// <summary>KYC's cache is a keyed service, so another library's IDistributedCache in the same host is left alone.</summary>
    public const string ServiceKey = "kyc";

    public async Task<Account?> GetAsync(string marketplaceId, string accountId, CancellationToken cancellationToken)
    {
        try
        {
            var bytes = await cache.GetAsync(Key(marketplaceId, accountId), cancellationToken);
            return bytes is null ? null : Account.Parser.ParseFrom(bytes);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            logger.LogWarning(exception, "Account cache read failed for {MarketplaceId}/{AccountId}; reading the database", marketplaceId, accountId);
            return null;
        }
    }

    public async Task SetAsync(Account account, CancellationToken cancellationToken)
    {
        try
        {
            await cache.SetAsync(Key(account.MarketplaceId, account.AccountId), account.ToByteArray(),
                new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromSeconds(options.Value.Cache.AccountTtlSeconds) },
                cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            logger.LogWarning(exception, "Account cache write failed for {MarketplaceId}/{AccountId}", account.MarketplaceId, account.AccountId);
        }
    }

    /// <summary>Called after every commit that changes the account.</summary>
    public async Task InvalidateAsync(string marketplaceId, string accountId)
    {
        try
        {
            // Not the caller's token: the change is committed, the entry must go even if the call is cancelled.
            await cache.RemoveAsync(Key(marketplaceId, accountId), CancellationToken.None);
        }
        catch (Exception exception)
        {
            // The entry expires within AccountTtlSeconds; enforcement's confirmations never read it.
            logger.LogError(exception, "Account cache invalidation failed for {MarketplaceId}/{AccountId}", marketplaceId, accountId);
        }
    }

    /// <summary>Invalidates several accounts of one marketplace (a link changes a whole cluster).</summary>
    public async Task InvalidateManyAsync(string marketplaceId, IEnumerable<string> accountIds)
    {
        foreach (var accountId in accountIds.Distinct(StringComparer.Ordinal))
        {
            await InvalidateAsync(marketplaceId, accountId);
        }
    }

    private static string Key(string marketplaceId, string accountId) => $"account:{marketplaceId}:{accountId}";
}
