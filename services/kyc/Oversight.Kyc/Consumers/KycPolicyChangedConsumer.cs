using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Oversight.Contracts;
using Oversight.Kyc.Accounts;
using Oversight.Kyc.Data;
using Oversight.Policy.Documents;

namespace Oversight.Kyc.Consumers;

/// <summary>
/// Keeps KYC's copy of each policy version enforcement publishes; new tier changes use the
/// latest copy's ladder. Idempotent on the version (a version's document never changes).
/// Named with its service so its queue ("kyc-policy-changed") is KYC's own: other services
/// consuming PolicyChanged on the same broker get their own copy of each message.
/// </summary>
public sealed class KycPolicyChangedConsumer(KycDbContext db, TimeProvider clock, ILogger<KycPolicyChangedConsumer> logger) : IConsumer<PolicyChanged>
{
    public async Task Consume(ConsumeContext<PolicyChanged> context)
    {
        var message = context.Message;
        var ct = context.CancellationToken;
        if (await db.PolicyCopies.AnyAsync(p => p.Version == message.Version, ct))
        {
            return;
        }

        try
        {
            PolicyLoader.Load(message.Document);
        }
        catch (PolicyValidationException exception)
        {
            // Enforcement validated it with the same loader, so this means mismatched versions
            // of Oversight: keep the current ladder and say so loudly; retrying cannot help.
            logger.LogError(exception, "Policy version {Version} from {Actor} is not valid for KYC; keeping the previous ladder", message.Version, message.Actor);
            return;
        }

        var now = clock.GetUtcNow();
        db.PolicyCopies.Add(new PolicyCopyRecord { Version = message.Version, Document = message.Document, Format = message.Format, ReceivedAt = now });
        AccountChanges.Audit(db, AuditActions.PolicyReceived, null, null, message.Actor, $"policy version {message.Version}", message.Version, now);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException)
        {
            if (await VersionStoredAsync(message.Version))
            {
                // A concurrent redelivery stored it first.
                return;
            }

            throw;
        }

        logger.LogInformation("Policy version {Version} stored", message.Version);
    }

    private async Task<bool> VersionStoredAsync(long version)
    {
        db.ChangeTracker.Clear();
        return await db.PolicyCopies.AnyAsync(p => p.Version == version);
    }
}
