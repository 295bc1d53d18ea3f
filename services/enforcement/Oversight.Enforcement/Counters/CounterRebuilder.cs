using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Oversight.Attestation.V1;
using Oversight.Enforcement.Accounts;
using Oversight.Enforcement.Policies;
using Oversight.Hosting.Auth;
using Oversight.Policy.Admission;
using Oversight.Policy.Counters;

namespace Oversight.Enforcement.Counters;

/// <summary>
/// Rebuilds a hash tag's counters and counted marks from the attestation ledger (the durable
/// truth of usage), through the attestation service's export. Used when a tag's epoch is
/// missing (Redis lost its data, or the tag was never used), when a link moves accounts to a
/// cluster root, and on an admin's request. Admission on the tag fails closed meanwhile:
/// its epoch is written only when the rebuild is complete.
/// </summary>
public sealed class CounterRebuilder(
    ICounterStore store,
    IRebuildLease leases,
    AdmissionEngine engine,
    PolicyRegistry policies,
    AccountDirectory accounts,
    WorkloadAttestation.WorkloadAttestationClient attestation,
    ServiceTokenSource tokens,
    TimeProvider clock,
    EnforcementMetrics metrics,
    ILogger<CounterRebuilder> logger)
{
    private static readonly TimeSpan LeasePoll = TimeSpan.FromMilliseconds(50);

    // One rebuild per tag at a time in this process; a second caller waits and finds the tag ready.
    // Across replicas the rebuild lease does the same.
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);

    /// <summary>Rebuilds the tag of a cluster root unless it is (by then) initialised. Returns attestations applied.</summary>
    public async Task<long> RebuildIfMissingAsync(string marketplaceId, string clusterRoot, CancellationToken cancellationToken) =>
        await RebuildAsync(marketplaceId, clusterRoot, onlyIfMissing: true, cancellationToken);

    /// <param name="formerRoots">Roots whose tags accounts just left for this cluster (a link): their
    /// live holds move into this tag, as the accounts' usage does. The caller clears those tags after.</param>
    public async Task<long> RebuildAsync(string marketplaceId, string clusterRoot, bool onlyIfMissing, CancellationToken cancellationToken,
        IReadOnlyCollection<string>? formerRoots = null)
    {
        var tag = CounterTag.For(marketplaceId, clusterRoot);
        var gate = _locks.GetOrAdd(tag, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            while (true)
            {
                if (onlyIfMissing && await store.GetEpochAsync(tag, cancellationToken) is not null)
                {
                    return 0;
                }

                await using var lease = await leases.TryAcquireAsync(tag, cancellationToken);
                if (lease is null)
                {
                    // Another replica is rebuilding this tag: wait for its epoch (or its lease to end).
                    await Task.Delay(LeasePoll, cancellationToken);
                    continue;
                }

                if (onlyIfMissing && await store.GetEpochAsync(tag, cancellationToken) is not null)
                {
                    return 0;
                }

                var applied = await RebuildLockedAsync(marketplaceId, clusterRoot, tag, lease, formerRoots ?? [], cancellationToken);
                if (applied is null)
                {
                    // This rebuild outlived its lease and another holder took the tag over: wait for
                    // that one's epoch (or, for a rebuild that must happen, take the lease again).
                    continue;
                }

                metrics.Rebuilds.Add(1);
                return applied.Value;
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Rebuilds every tag of one marketplace, or of every marketplace (null): the cluster roots
    /// enforcement knows, and every account the ledger has usage for (an account KYC never
    /// confirmed still has its usage counted under its own tag).
    /// </summary>
    public async Task<(long Tags, long Applied)> RebuildAllAsync(string? marketplaceId, CancellationToken cancellationToken)
    {
        var tags = new HashSet<(string Marketplace, string Root)>(await accounts.ClusterRootsAsync(marketplaceId, cancellationToken));
        var known = await accounts.RootsByAccountAsync(marketplaceId, cancellationToken);
        var request = new ExportAttestationsRequest { MarketplaceId = marketplaceId ?? "" };
        try
        {
            using var call = attestation.ExportAttestations(request, Auth(), cancellationToken: cancellationToken);
            await foreach (var entry in call.ResponseStream.ReadAllAsync(cancellationToken))
            {
                var key = (entry.Attestation.MarketplaceId, entry.Attestation.AccountId);
                tags.Add((key.MarketplaceId, known.TryGetValue(key, out var root) ? root : key.AccountId));
            }
        }
        catch (RpcException e)
        {
            throw LedgerUnavailable(e);
        }

        long applied = 0;
        foreach (var (marketplace, root) in tags.OrderBy(t => t.Marketplace, StringComparer.Ordinal).ThenBy(t => t.Root, StringComparer.Ordinal))
        {
            applied += await RebuildAsync(marketplace, root, onlyIfMissing: false, cancellationToken);
        }

        return (tags.Count, applied);
    }

    /// <returns>Attestations applied; null when the lease was lost before the epoch could be written.</returns>
    private async Task<long?> RebuildLockedAsync(
        string marketplaceId, string clusterRoot, string tag, IHeldRebuildLease lease, IReadOnlyCollection<string> formerRoots, CancellationToken cancellationToken)
    {
        var (_, policy) = await policies.ResolveAsync(marketplaceId, cancellationToken);
        var retention = policy.Document.CountedMarkRetentionSeconds;
        var members = await accounts.ClusterMembersAsync(marketplaceId, clusterRoot, cancellationToken);
        var account = new AccountRef(marketplaceId, clusterRoot, clusterRoot);

        // Holds are not in the ledger: keep them as they are (the settles below leave holds alone),
        // with those of the tags a link's accounts left, so leases running across the rebuild stay held.
        await store.ResetTagAsync(tag, keepHolds: true, cancellationToken);
        foreach (var former in formerRoots)
        {
            var now = clock.GetUtcNow().ToUnixTimeSeconds();
            var moved = await store.ReadHoldsAsync(CounterTag.For(marketplaceId, former), now, cancellationToken);
            await store.RestoreHoldsAsync(tag, now, moved, cancellationToken);
        }

        long applied = 0;
        try
        {
            var now = clock.GetUtcNow().ToUnixTimeSeconds();
            // One export names at most ExportAttestationsRequest.MaxAccountIds accounts; a bigger cluster takes several
            // (settles count and mark in any order, and each entry belongs to one account).
            foreach (var chunk in members.Chunk(ExportAttestationsRequest.MaxAccountIds))
            {
                var request = new ExportAttestationsRequest { MarketplaceId = marketplaceId };
                request.AccountIds.AddRange(chunk);
                using var call = attestation.ExportAttestations(request, Auth(), cancellationToken: cancellationToken);
                await foreach (var entry in call.ResponseStream.ReadAllAsync(cancellationToken))
                {
                    var usage = Settlement.ToUsage(entry);
                    var recordedAt = entry.Receipt.RecordedAt?.ToDateTimeOffset().ToUnixTimeSeconds() ?? usage.IntervalEndUnixSeconds;
                    // Marks of events still within the retention are restored, so that events still
                    // queued on the bus are recognised as counted.
                    var remaining = recordedAt + retention - now;
                    var owner = account with { AccountId = entry.Attestation.AccountId };
                    var result = await engine.SettleAsync(policy, owner, usage, now, remaining > 0 ? remaining : null, cancellationToken, rebuilding: true);
                    if (result.Status == SettleStatus.Applied)
                    {
                        applied++;
                    }

                    if (!entry.ProviderScopedId && remaining > 0)
                    {
                        // An attestation pod of the earlier version (during a rollout) exports every entry
                        // without the flag, those recorded by new pods too, whose events carry the
                        // provider's mark: mark the entry under that form as well (nothing to count). The
                        // provider cannot use the id again, so the second mark never stops another event.
                        var scoped = usage with { AttestationId = CountedMark.For(entry.Attestation.ProviderId, entry.Attestation.AttestationId), LeaseId = null, FlopUnits = 0, GpuSeconds = 0 };
                        await engine.SettleAsync(policy, owner, scoped, now, remaining, cancellationToken, rebuilding: true);
                    }
                }
            }
        }
        catch (RpcException e)
        {
            // The tag stays without an epoch: admission on it keeps failing closed, and the next
            // request or event tries the rebuild again.
            throw LedgerUnavailable(e);
        }

        if (!await lease.InitializeTagAsync($"{clock.GetUtcNow().ToUnixTimeMilliseconds()}-{Guid.NewGuid():N}", cancellationToken))
        {
            logger.LogWarning("The rebuild of {Tag} lost its lease before it finished (another replica rebuilds the tag); its epoch is not written", tag);
            return null;
        }

        logger.LogInformation("Rebuilt counters of {Tag} from the ledger: {Applied} attestations", tag, applied);
        return applied;
    }

    private Metadata Auth() => new() { { "Authorization", $"Bearer {tokens.Current()}" } };

    private static CountersUnavailableException LedgerUnavailable(RpcException e) => new(
        $"The counters must be rebuilt from the attestation ledger, and the ledger could not be read ({e.StatusCode}); enforcement fails closed. Retry later.", e);
}
