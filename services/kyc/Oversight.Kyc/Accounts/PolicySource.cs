using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Oversight.Kyc.Data;
using Oversight.Policy.Documents;

namespace Oversight.Kyc.Accounts;

/// <summary>
/// The ladders KYC works with. New tier changes use the latest policy copy received through
/// PolicyChanged, else the default policy as version 1. Policy versions never change once
/// published, so parsed documents are kept in memory for the process's life: reading an
/// account's tier names costs no query.
/// </summary>
public sealed class PolicySource
{
    public const long DefaultVersion = 1;

    private readonly ConcurrentDictionary<long, PolicyDocument> _documents = new();
    private readonly ConcurrentDictionary<(long, string), EffectivePolicy> _resolved = new();

    /// <summary>The latest policy version and its ladder for the marketplace.</summary>
    public async Task<(long Version, EffectivePolicy Policy)> CurrentAsync(KycDbContext db, string marketplaceId, CancellationToken cancellationToken)
    {
        var latest = await db.PolicyCopies.AsNoTracking()
            .OrderByDescending(p => p.Version)
            .Select(p => new { p.Version })
            .FirstOrDefaultAsync(cancellationToken);
        var version = latest?.Version ?? DefaultVersion;
        return (version, await ResolveAsync(db, version, marketplaceId, cancellationToken));
    }

    /// <summary>The ladder of a given version (the one an account's tier belongs to).</summary>
    public async Task<EffectivePolicy> ResolveAsync(KycDbContext db, long version, string marketplaceId, CancellationToken cancellationToken)
    {
        if (_resolved.TryGetValue((version, marketplaceId), out var cached))
        {
            return cached;
        }

        if (!_documents.TryGetValue(version, out var document))
        {
            var copy = await db.PolicyCopies.AsNoTracking().FirstOrDefaultAsync(p => p.Version == version, cancellationToken);
            document = copy is not null ? PolicyLoader.Load(copy.Document)
                : version == DefaultVersion ? DefaultPolicy.Document
                : throw new InvalidOperationException($"Policy version {version} is not known to KYC.");
            _documents.TryAdd(version, document);
        }

        return _resolved.GetOrAdd((version, marketplaceId), _ => document.Resolve(marketplaceId));
    }

    /// <summary>Every version an account and its history refer to, resolved (cached after the first read).</summary>
    public async Task<Func<long, EffectivePolicy>> ResolverAsync(KycDbContext db, string marketplaceId, IEnumerable<long> versions, CancellationToken cancellationToken)
    {
        var resolved = new Dictionary<long, EffectivePolicy>();
        foreach (var version in versions.Distinct())
        {
            resolved[version] = await ResolveAsync(db, version, marketplaceId, cancellationToken);
        }

        return version => resolved[version];
    }
}
