using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Oversight.Contracts;
using Oversight.Enforcement.Data;
using Oversight.Hosting.Outbox;
using Oversight.Policy.Documents;

namespace Oversight.Enforcement.Policies;

/// <summary>
/// Enforcement owns the policy: versions live in its database, never rewritten; a new one
/// applies without restart (every replica looks for a newer version every few seconds) and
/// leaves as PolicyChanged through the outbox in the same transaction.
/// </summary>
public sealed class PolicyRegistry(IServiceScopeFactory scopes, TimeProvider clock, OutboxSignal outbox, IOptions<EnforcementOptions> options)
{
    private const int MaxResolved = 10_000;
    private readonly SemaphoreSlim _reload = new(1, 1);
    private readonly ConcurrentDictionary<(long Version, string MarketplaceId), EffectivePolicy> _resolved = new();
    private volatile Loaded? _current;

    private sealed record Loaded(PolicyVersion Policy, DateTimeOffset CheckedAt);

    // Every stored version's document, up to a version (read again when a newer one is current).
    private sealed record History(long UpTo, IReadOnlyList<PolicyDocument> Documents);

    private readonly ConcurrentDictionary<(long Version, string MarketplaceId), long> _shortestRetention = new();
    private volatile History? _history;

    public async ValueTask<PolicyVersion> CurrentAsync(CancellationToken cancellationToken)
    {
        var current = _current;
        var now = TimeProvider.System.GetUtcNow();
        if (current is not null && now - current.CheckedAt < TimeSpan.FromSeconds(options.Value.PolicyRefreshSeconds))
        {
            return current.Policy;
        }

        await _reload.WaitAsync(cancellationToken);
        try
        {
            current = _current;
            if (current is not null && now - current.CheckedAt < TimeSpan.FromSeconds(options.Value.PolicyRefreshSeconds))
            {
                return current.Policy;
            }

            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<EnforcementDbContext>();
            var latest = await db.PolicyVersions.OrderByDescending(p => p.Version).FirstOrDefaultAsync(cancellationToken)
                ?? await SeedDefaultAsync(db, cancellationToken);
            // Never step back: SetAsync may have installed a newer version while this read ran.
            current = _current;
            var policy = current is not null && current.Policy.Version >= latest.Version
                ? current.Policy
                : new PolicyVersion(latest.Version, PolicyLoader.Load(latest.Document));
            _current = new Loaded(policy, now);
            return policy;
        }
        finally
        {
            _reload.Release();
        }
    }

    /// <summary>
    /// The current version and the policy in force for one marketplace (its override applied).
    /// Resolving validates and indexes the document, so each (version, marketplace) is resolved
    /// once and kept: this is on every Authorize.
    /// </summary>
    public async ValueTask<(PolicyVersion Policy, EffectivePolicy Effective)> ResolveAsync(string marketplaceId, CancellationToken cancellationToken)
    {
        var policy = await CurrentAsync(cancellationToken);
        var key = (policy.Version, marketplaceId);
        if (!_resolved.TryGetValue(key, out var effective))
        {
            if (_resolved.Count >= MaxResolved)
            {
                _resolved.Clear();
            }

            effective = _resolved.GetOrAdd(key, k => policy.Document.Resolve(k.MarketplaceId));
        }

        return (policy, effective);
    }

    /// <summary>
    /// The shortest counted-mark retention that any stored version up to the current one gives the
    /// marketplace. A "counted" mark is kept for the retention in force when its event was
    /// counted: once the retention is raised, an event older than the earlier, shorter one may have
    /// lost its mark, and only this shortest retention tells which events still surely have theirs.
    /// </summary>
    public async ValueTask<long> ShortestMarkRetentionAsync(string marketplaceId, CancellationToken cancellationToken)
    {
        var (policy, effective) = await ResolveAsync(marketplaceId, cancellationToken);
        var key = (policy.Version, marketplaceId);
        if (_shortestRetention.TryGetValue(key, out var shortest))
        {
            return shortest;
        }

        var history = _history;
        if (history is null || history.UpTo < policy.Version)
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<EnforcementDbContext>();
            var documents = await db.PolicyVersions.AsNoTracking().Where(p => p.Version <= policy.Version).Select(p => p.Document).ToListAsync(cancellationToken);
            history = new History(policy.Version, [.. documents.Select(PolicyLoader.Load)]);
            _history = history;
        }

        shortest = history.Documents
            .Select(d => d.Resolve(marketplaceId).Document.CountedMarkRetentionSeconds)
            .Append(effective.Document.CountedMarkRetentionSeconds)
            .Min();
        if (_shortestRetention.Count >= MaxResolved)
        {
            _shortestRetention.Clear();
        }

        _shortestRetention[key] = shortest;
        return shortest;
    }

    /// <summary>Validates and stores a new version; throws <see cref="PolicyValidationException"/> naming the bad field.</summary>
    public async Task<long> SetAsync(string document, string format, string comment, string actor, CancellationToken cancellationToken)
    {
        var parsed = PolicyLoader.Load(document);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EnforcementDbContext>();
        for (var attempt = 1; ; attempt++)
        {
            var version = (await db.PolicyVersions.MaxAsync(p => (long?)p.Version, cancellationToken) ?? 0) + 1;
            var record = new PolicyVersionRecord
            {
                Version = version,
                Document = document,
                Format = format,
                Comment = comment,
                Actor = actor,
                CreatedAt = clock.GetUtcNow(),
            };
            db.PolicyVersions.Add(record);
            db.AddEvent(new PolicyChanged(version, document, format, actor, record.CreatedAt), record.CreatedAt);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                outbox.Notify();
                await _reload.WaitAsync(CancellationToken.None);
                try
                {
                    if (_current is not { } loaded || loaded.Policy.Version < version)
                    {
                        _current = new Loaded(new PolicyVersion(version, parsed), TimeProvider.System.GetUtcNow());
                    }
                }
                finally
                {
                    _reload.Release();
                }

                return version;
            }
            catch (DbUpdateException) when (attempt < 5)
            {
                // Another replica took this version number at the same moment: take the next.
                db.ChangeTracker.Clear();
            }
        }
    }

    private async Task<PolicyVersionRecord> SeedDefaultAsync(EnforcementDbContext db, CancellationToken cancellationToken)
    {
        var record = new PolicyVersionRecord
        {
            Version = 1,
            Document = DefaultPolicy.Yaml,
            Format = "YAML",
            Comment = "default policy",
            Actor = "system",
            CreatedAt = clock.GetUtcNow(),
        };
        db.PolicyVersions.Add(record);
        db.AddEvent(new PolicyChanged(1, record.Document, record.Format, record.Actor, record.CreatedAt), record.CreatedAt);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            outbox.Notify();
            return record;
        }
        catch (DbUpdateException)
        {
            // Another replica seeded first.
            db.ChangeTracker.Clear();
            return await db.PolicyVersions.OrderByDescending(p => p.Version).FirstAsync(cancellationToken);
        }
    }
}
