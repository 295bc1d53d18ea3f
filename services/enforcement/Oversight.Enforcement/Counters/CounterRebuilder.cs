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
    AdmissionEngine engine,
    PolicyRegistry policies,
    AccountDirectory accounts,
    WorkloadAttestation.WorkloadAttestationClient attestation,
    ServiceTokenSource tokens,
    TimeProvider clock,
    EnforcementMetrics metrics,
    ILogger<CounterRebuilder> logger)
{
    // One rebuild per tag at a time in this process; a second caller waits and finds the tag ready.
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);

    /// <summary>Rebuilds the tag of a cluster root unless it is (by then) initialised. Returns attestations applied.</summary>
    public async Task<long> RebuildIfMissingAsync(string marketplaceId, string clusterRoot, CancellationToken cancellationToken) =>
        await RebuildAsync(marketplaceId, clusterRoot, onlyIfMissing: true, cancellationToken);

    public async Task<long> RebuildAsync(string marketplaceId, string clusterRoot, bool onlyIfMissing, CancellationToken cancellationToken)
    {
        var tag = CounterTag.For(marketplaceId, clusterRoot);
        var gate = _locks.GetOrAdd(tag, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (onlyIfMissing && await store.GetEpochAsync(tag, cancellationToken) is not null)
            {
                return 0;
            }

            var applied = await RebuildLockedAsync(marketplaceId, clusterRoot, tag, cancellationToken);
            metrics.Rebuilds.Add(1);
            return applied;
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<long> RebuildLockedAsync(string marketplaceId, string clusterRoot, string tag, CancellationToken cancellationToken)
    {
        var policy = (await policies.CurrentAsync(cancellationToken)).Document.Resolve(marketplaceId);
        var retention = policy.Document.CountedMarkRetentionSeconds;
        var members = await accounts.ClusterMembersAsync(marketplaceId, clusterRoot, cancellationToken);
        var account = new AccountRef(marketplaceId, clusterRoot, clusterRoot);

        await store.ResetTagAsync(tag, cancellationToken);
        var request = new ExportAttestationsRequest { MarketplaceId = marketplaceId };
        request.AccountIds.AddRange(members);
        using var call = attestation.ExportAttestations(
            request,
            new Metadata { { "Authorization", $"Bearer {tokens.Current()}" } },
            cancellationToken: cancellationToken);

        long applied = 0;
        var now = clock.GetUtcNow().ToUnixTimeSeconds();
        await foreach (var entry in call.ResponseStream.ReadAllAsync(cancellationToken))
        {
            var usage = Settlement.ToUsage(entry.Attestation);
            var recordedAt = entry.Receipt.RecordedAt?.ToDateTimeOffset().ToUnixTimeSeconds() ?? usage.IntervalEndUnixSeconds;
            // Marks of events still within the retention are restored, so that events still
            // queued on the bus are recognised as counted.
            var remaining = recordedAt + retention - now;
            var result = await engine.SettleAsync(policy, account with { AccountId = entry.Attestation.AccountId }, usage, now,
                remaining > 0 ? remaining : null, cancellationToken, rebuilding: true);
            if (result.Status == SettleStatus.Applied)
            {
                applied++;
            }
        }

        await store.InitializeTagAsync(tag, $"{clock.GetUtcNow().ToUnixTimeMilliseconds()}-{Guid.NewGuid():N}", cancellationToken);
        logger.LogInformation("Rebuilt counters of {Tag} from the ledger: {Applied} attestations", tag, applied);
        return applied;
    }
}
