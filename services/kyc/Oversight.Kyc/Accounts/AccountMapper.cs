using Google.Protobuf.WellKnownTypes;
using Oversight.Common.V1;
using Oversight.Kyc.Data;
using Oversight.Kyc.V1;
using Oversight.Policy.Documents;

namespace Oversight.Kyc.Accounts;

/// <summary>Database records to the v1 messages.</summary>
public static class AccountMapper
{
    public static Account ToProto(AccountRecord record, Func<long, EffectivePolicy> policyOf)
    {
        var account = new Account
        {
            MarketplaceId = record.MarketplaceId,
            AccountId = record.AccountId,
            Tier = ToTier(policyOf(record.PolicyVersion), record.TierLevel, record.TierId),
            Suspended = record.Suspended,
            Sequence = record.Sequence,
            CreatedAt = Timestamp.FromDateTimeOffset(record.CreatedAt),
            ClusterRoot = record.ClusterRoot,
            PurposeCategory = EnumNames.ParseCategory(record.PurposeCategory),
            PolicyVersion = record.PolicyVersion,
            Erased = record.ErasedAt is not null,
            TierExpiresAt = record.TierExpiresAt is { } expires ? Timestamp.FromDateTimeOffset(expires) : null,
        };
        if (record.NextStepRequirement is not null)
        {
            account.NextStep = new NextStep
            {
                Requirement = (RequirementKind)EnumNames.ParseRequirement(record.NextStepRequirement),
                Window = record.NextStepWindow ?? "",
                Since = record.NextStepSince is { } since ? Timestamp.FromDateTimeOffset(since) : null,
            };
        }

        foreach (var change in record.History.OrderBy(c => c.Id))
        {
            var policy = policyOf(change.PolicyVersion);
            account.History.Add(new TierChange
            {
                From = ToTier(policy, change.FromLevel, change.FromTierId),
                To = ToTier(policy, change.ToLevel, change.ToTierId),
                Reason = change.Reason,
                Actor = change.Actor,
                PolicyVersion = change.PolicyVersion,
                At = Timestamp.FromDateTimeOffset(change.At),
            });
        }

        return account;
    }

    public static Tier ToTier(EffectivePolicy policy, int level, string tierId)
    {
        if (level >= 0 && level < policy.Ladder.Count && policy.Ladder[level].Id == tierId)
        {
            var definition = policy.Ladder[level];
            return new Tier { Level = level, Id = definition.Id, DisplayName = definition.DisplayName, Requirement = (RequirementKind)definition.Requirement };
        }

        // Not expected (a tier is stored with the version of its ladder), but never hide the stored values.
        return new Tier { Level = level, Id = tierId, DisplayName = tierId };
    }
}
