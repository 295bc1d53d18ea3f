using Oversight.Contracts;
using Oversight.Hosting.Outbox;
using Oversight.Kyc.Data;
using Oversight.Policy;
using Oversight.Policy.Documents;

namespace Oversight.Kyc.Accounts;

/// <summary>
/// The state changes every RPC and consumer share. Each adds rows to the caller's unit of
/// work only: the caller's single SaveChanges commits the change, its history, its audit
/// event and its outbox event together, or none of them.
/// </summary>
public static class AccountChanges
{
    /// <summary>The account's next event sequence (strictly increasing per account, contracts).</summary>
    public static long NextSequence(AccountRecord account) => ++account.Sequence;

    /// <summary>The account's level on <paramref name="policy"/>'s ladder (the tier id decides when the ladder changed).</summary>
    public static int LevelOn(EffectivePolicy policy, AccountRecord account) =>
        policy.TryGetTierLevel(account.TierId, out var level) ? level : account.TierLevel;

    /// <summary>The lowest rung that needs <paramref name="requirement"/>, if the ladder has one.</summary>
    public static int? LowestRungWith(EffectivePolicy policy, RequirementKind requirement)
    {
        for (var level = 0; level < policy.Ladder.Count; level++)
        {
            if (policy.Ladder[level].Requirement == requirement)
            {
                return level;
            }
        }

        return null;
    }

    /// <summary>The highest rung that needs <paramref name="requirement"/>, if the ladder has one.</summary>
    public static int? HighestRungWith(EffectivePolicy policy, RequirementKind requirement)
    {
        for (var level = policy.Ladder.Count - 1; level >= 0; level--)
        {
            if (policy.Ladder[level].Requirement == requirement)
            {
                return level;
            }
        }

        return null;
    }

    /// <summary>Moves the account to <paramref name="toLevel"/>: history, AccountTierChanged (outbox), audit.</summary>
    public static void ChangeTier(
        KycDbContext db, AccountRecord account, EffectivePolicy policy, long policyVersion, int toLevel,
        string reason, string actor, DateTimeOffset now)
    {
        var to = policy.Tier(toLevel);
        var from = (Level: account.TierLevel, Id: account.TierId);
        account.History.Add(new TierChangeRecord
        {
            MarketplaceId = account.MarketplaceId,
            AccountId = account.AccountId,
            FromLevel = from.Level,
            FromTierId = from.Id,
            ToLevel = toLevel,
            ToTierId = to.Id,
            Reason = reason,
            Actor = actor,
            PolicyVersion = policyVersion,
            At = now,
        });
        account.TierLevel = toLevel;
        account.TierId = to.Id;
        account.PolicyVersion = policyVersion;
        // Only a verified rung expires; the caller sets when (Qualifications.ExpiryFor).
        if (to.Requirement is not (RequirementKind.Identity or RequirementKind.Organisation))
        {
            account.TierExpiresAt = null;
        }

        // A next step the new tier satisfies is done; a DENY or a higher step stays shown.
        var next = EnumNames.ParseRequirement(account.NextStepRequirement);
        if (account.NextStepRequirement is not null && next is not RequirementKind.Unspecified and not RequirementKind.None && next <= to.Requirement)
        {
            ClearNextStep(account);
        }

        db.AddEvent(new AccountTierChanged(
            account.MarketplaceId, account.AccountId, from.Level, from.Id, toLevel, to.Id,
            EnumNames.Name(to.Requirement), reason, actor, account.PurposeCategory, policyVersion,
            NextSequence(account), now), now);
        Audit(db, AuditActions.TierChanged, account.MarketplaceId, account.AccountId, actor, $"{from.Id} -> {to.Id}: {reason}", policyVersion, now);
    }

    /// <summary>GetAccount shows no next step any more (taken, or no longer possible).</summary>
    public static void ClearNextStep(AccountRecord account)
    {
        account.NextStepRequirement = null;
        account.NextStepWindow = null;
        account.NextStepSince = null;
    }

    /// <summary>An entry in the account's history that is not a tier move (creation, suspension).</summary>
    public static void AddHistory(AccountRecord account, string reason, string actor, DateTimeOffset now) =>
        account.History.Add(new TierChangeRecord
        {
            MarketplaceId = account.MarketplaceId,
            AccountId = account.AccountId,
            FromLevel = account.TierLevel,
            FromTierId = account.TierId,
            ToLevel = account.TierLevel,
            ToTierId = account.TierId,
            Reason = reason,
            Actor = actor,
            PolicyVersion = account.PolicyVersion,
            At = now,
        });

    /// <summary>Appends to the audit log. Never pass personal data in <paramref name="reason"/>.</summary>
    public static void Audit(KycDbContext db, string action, string? marketplaceId, string? accountId, string actor, string reason, long policyVersion, DateTimeOffset now) =>
        db.AuditEvents.Add(new AuditEventRecord
        {
            At = now,
            Action = action,
            MarketplaceId = marketplaceId,
            AccountId = accountId,
            Actor = actor,
            Reason = reason,
            PolicyVersion = policyVersion,
        });
}

/// <summary>The audit log's action names.</summary>
public static class AuditActions
{
    public const string AccountCreated = "account.created";
    public const string TierChanged = "tier.changed";
    public const string PurposeStated = "purpose.stated";
    public const string PurposeRead = "purpose.read";
    public const string VerificationStarted = "verification.started";
    public const string VerificationResult = "verification.result";
    public const string AccountSuspended = "account.suspended";
    public const string AccountReinstated = "account.reinstated";
    public const string NextStepSet = "next_step.set";
    public const string PolicyReceived = "policy.received";
    public const string AccountsLinked = "accounts.linked";
    public const string AccountErased = "account.erased";
}
