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
/// step, one the account's current tier already satisfies, and any for an erased account
/// change nothing.
/// </summary>
/// <remarks>
/// The crossing was decided on enforcement's view of the account at CrossedAt, and may arrive
/// after the account has moved (StatePurpose, a verification): it is judged against the
/// account as stored when it is applied. Setting the step moves the account's Sequence (its
/// concurrency token, KycDbContext), so a StatePurpose that read the account before this commit
/// retries and clears the step; and if the account changed after this consumer read it, the
/// commit fails and the crossing is judged again on the new state.
/// </remarks>
public sealed class KycThresholdCrossedConsumer(
    KycDbContext db,
    PolicySource policies,
    AccountCache cache,
    TimeProvider clock,
    ILogger<KycThresholdCrossedConsumer> logger) : IConsumer<ThresholdCrossed>
{
    public const string ConsumerName = "kyc.threshold-crossed";

    private const int Attempts = 5;

    public async Task Consume(ConsumeContext<ThresholdCrossed> context)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await ApplyAsync(context.Message, context.MessageId, context.CancellationToken);
                return;
            }
            catch (DbUpdateConcurrencyException) when (attempt < Attempts)
            {
                // The account changed since it was read: judge the crossing again on what is stored now.
                db.ChangeTracker.Clear();
            }
        }
    }

    private async Task ApplyAsync(ThresholdCrossed message, Guid? messageId, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (!await db.TryBeginProcessingAsync(messageId, ConsumerName, now, ct))
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
        // Near the limit is not a step to take; an erased account can take none.
        if (message.NearLimit || account.ErasedAt is not null)
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
