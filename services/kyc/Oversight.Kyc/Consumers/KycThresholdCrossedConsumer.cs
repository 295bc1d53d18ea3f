using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Oversight.Contracts;
using Oversight.Hosting.Outbox;
using Oversight.Kyc.Accounts;
using Oversight.Kyc.Data;
using Oversight.Policy;

namespace Oversight.Kyc.Consumers;

/// <summary>
/// Records what the account must do next (GetAccount's next_step) when enforcement says it
/// first needs a step-up. Applied once per MessageId; a crossing older than the recorded
/// step, or one the account's current tier already satisfies, changes nothing.
/// </summary>
public sealed class KycThresholdCrossedConsumer(
    KycDbContext db,
    PolicySource policies,
    AccountCache cache,
    TimeProvider clock,
    ILogger<KycThresholdCrossedConsumer> logger) : IConsumer<ThresholdCrossed>
{
    public const string ConsumerName = "kyc.threshold-crossed";

    public async Task Consume(ConsumeContext<ThresholdCrossed> context)
    {
        var message = context.Message;
        var ct = context.CancellationToken;
        var now = clock.GetUtcNow();
        if (!await db.TryBeginProcessingAsync(context.MessageId, ConsumerName, now, ct))
        {
            return;
        }

        var account = await db.Accounts.FirstOrDefaultAsync(a => a.MarketplaceId == message.MarketplaceId && a.AccountId == message.AccountId, ct);
        if (account is not null && await IsNewStepAsync(account, message, ct))
        {
            account.NextStepRequirement = message.Requirement;
            account.NextStepWindow = message.WindowId;
            account.NextStepSince = message.CrossedAt.ToUniversalTime();
            AccountChanges.Audit(db, AuditActions.NextStepSet, account.MarketplaceId, account.AccountId, "service:enforcement",
                $"{message.Verdict} in window {message.WindowId}", message.PolicyVersion, now);
        }
        else if (account is null)
        {
            logger.LogWarning("ThresholdCrossed for unknown account {MarketplaceId}/{AccountId} ignored", message.MarketplaceId, message.AccountId);
        }

        // The processed-message marker is committed either way, so a redelivery is a no-op.
        await db.SaveChangesAsync(ct);
        if (account is not null)
        {
            await cache.InvalidateAsync(account.MarketplaceId, account.AccountId);
        }
    }

    private async Task<bool> IsNewStepAsync(AccountRecord account, ThresholdCrossed message, CancellationToken ct)
    {
        // Near the limit is not a step to take.
        if (message.NearLimit)
        {
            return false;
        }

        if (account.NextStepSince is { } since && message.CrossedAt.ToUniversalTime() < since)
        {
            return false;
        }

        var required = EnumNames.ParseRequirement(message.Requirement);
        if (required is RequirementKind.StatedPurpose or RequirementKind.Identity or RequirementKind.Organisation)
        {
            var policy = await policies.ResolveAsync(db, account.PolicyVersion, account.MarketplaceId, ct);
            var held = policy.Tier(account.TierLevel).Requirement;
            // A late event for a step already taken (the tier changed meanwhile).
            return held < required;
        }

        return true;
    }
}
