using MassTransit;
using Microsoft.Extensions.Logging;
using Oversight.Contracts;
using Oversight.Enforcement.Accounts;
using Oversight.Enforcement.Counters;
using Oversight.Enforcement.Policies;
using Oversight.Policy.Admission;
using Oversight.Policy.Counters;

namespace Oversight.Enforcement.Consumers;

/// <summary>
/// Counts an accepted or flagged attestation exactly once: the store's settle step counts,
/// reduces or releases the lease's hold and marks the attestation id as counted in one
/// atomic step, so a redelivery is recognised. When Redis is down the step throws, the
/// message is retried and waits (it is never dead-lettered for an outage).
/// </summary>
public sealed class UsageAttestedConsumer(
    AdmissionEngine engine,
    PolicyRegistry policies,
    AccountDirectory accounts,
    CounterRebuilder rebuilder,
    TimeProvider clock,
    EnforcementMetrics metrics,
    ILogger<UsageAttestedConsumer> logger) : IConsumer<UsageAttested>
{
    public async Task Consume(ConsumeContext<UsageAttested> context)
    {
        var attested = context.Message;
        var cancellationToken = context.CancellationToken;
        var account = await accounts.FindAsync(attested.MarketplaceId, attested.AccountId, cancellationToken)
            ?? await accounts.ConfirmAsync(attested.MarketplaceId, attested.AccountId, cancellationToken);
        // Usage of an account KYC does not know still happened: it counts under the account's own tag.
        var reference = new AccountRef(attested.MarketplaceId, attested.AccountId, account?.ClusterRoot ?? attested.AccountId);
        var (_, policy) = await policies.ResolveAsync(attested.MarketplaceId, cancellationToken);
        var now = clock.GetUtcNow().ToUnixTimeSeconds();
        var retention = policy.Document.CountedMarkRetentionSeconds;

        // Judged on the shortest retention any policy version gave: an event counted while a
        // shorter one was in force has a mark that ends sooner than today's retention says.
        if (attested.RecordedAt.ToUnixTimeSeconds() + await policies.ShortestMarkRetentionAsync(attested.MarketplaceId, cancellationToken) <= now)
        {
            // Its "counted" mark would have expired: applying it live could count it twice.
            // The ledger has it, so a rebuild of its tag counts it exactly once.
            logger.LogWarning("Attestation {AttestationId} is older than the mark retention; rebuilding {Tag}", attested.AttestationId, reference.Tag);
            await rebuilder.RebuildAsync(reference.MarketplaceId, reference.ClusterRoot, onlyIfMissing: false, cancellationToken);
            return;
        }

        var usage = Settlement.ToUsage(attested);
        var result = await engine.SettleAsync(policy, reference, usage, now, retention, cancellationToken);
        if (result.Status == SettleStatus.EpochMissing)
        {
            // The tag lost its data (or was never used): rebuild it from the ledger, which
            // already holds this attestation (its event left after the ledger commit).
            await rebuilder.RebuildIfMissingAsync(reference.MarketplaceId, reference.ClusterRoot, cancellationToken);
            result = await engine.SettleAsync(policy, reference, usage, clock.GetUtcNow().ToUnixTimeSeconds(), retention, cancellationToken);
        }

        metrics.HoldsExpired.Add(result.ExpiredHoldsPruned);
        switch (result.Status)
        {
            case SettleStatus.Applied:
                metrics.UsageApplied(result.HoldFound);
                if (!result.HoldFound)
                {
                    // Counted all the same (usage happened), but no reservation of this account's
                    // covered it: the lease was never authorized, its hold expired (a job running past
                    // the policy's hold time to live) or another account holds it.
                    logger.LogInformation(
                        "Usage of lease {LeaseId} (attestation {AttestationId}) counted for account {AccountId} of marketplace {MarketplaceId} without a reservation of that account",
                        attested.LeaseId, attested.AttestationId, attested.AccountId, attested.MarketplaceId);
                }

                break;
            case SettleStatus.Duplicate:
                metrics.DuplicatesIgnored.Add(1);
                break;
            default:
                throw new InvalidOperationException($"Counters of {reference.Tag} are still missing after a rebuild; the message will be retried.");
        }
    }
}
