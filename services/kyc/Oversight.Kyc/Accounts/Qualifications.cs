using Microsoft.EntityFrameworkCore;
using Oversight.Kyc.Data;
using Oversight.Kyc.Verification;
using Oversight.Policy;
using Oversight.Policy.Documents;

namespace Oversight.Kyc.Accounts;

/// <summary>
/// What an account has done that the ladder's requirements ask for, at one moment: a stated
/// purpose, and the approved identity and organisation verifications that have not expired
/// (each with the latest expiry among them). An erased account holds none of these.
/// </summary>
public sealed record Qualifications(bool PurposeStated, DateTimeOffset? IdentityUntil, DateTimeOffset? OrganisationUntil)
{
    public const string Identity = "IDENTITY";
    public const string Organisation = "ORGANISATION";
    public const string Approved = "APPROVED";

    public static string KindName(VerificationType kind) => kind == VerificationType.Organisation ? Organisation : Identity;

    /// <summary>
    /// Reads the account's purpose and verifications. Verifications are read with tracking, so
    /// that a result applied but not yet saved in the caller's unit of work counts; the filter on
    /// status and expiry runs in memory for the same reason (and because SQLite cannot compare
    /// DateTimeOffset columns).
    /// </summary>
    public static async Task<Qualifications> LoadAsync(KycDbContext db, AccountRecord account, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (account.ErasedAt is not null)
        {
            return new Qualifications(false, null, null);
        }

        var purposeStated = await db.StatedPurposes.AnyAsync(p => p.MarketplaceId == account.MarketplaceId && p.AccountId == account.AccountId, cancellationToken);
        var verifications = await db.Verifications
            .Where(v => v.MarketplaceId == account.MarketplaceId && v.AccountId == account.AccountId)
            .ToListAsync(cancellationToken);
        return new Qualifications(purposeStated, ValidUntil(verifications, Identity, now), ValidUntil(verifications, Organisation, now));
    }

    /// <summary>
    /// The rung these qualifications give on <paramref name="policy"/>'s ladder: the highest of
    /// rung 0, the lowest stated-purpose rung, the lowest identity rung and the highest
    /// organisation rung, each counted only when its requirement is met (the same rungs that
    /// StatePurpose and approvals move an account to).
    /// </summary>
    public int GrantedLevel(EffectivePolicy policy)
    {
        var level = 0;
        if (PurposeStated && AccountChanges.LowestRungWith(policy, RequirementKind.StatedPurpose) is { } purposeRung)
        {
            level = Math.Max(level, purposeRung);
        }

        if (IdentityUntil is not null && AccountChanges.LowestRungWith(policy, RequirementKind.Identity) is { } identityRung)
        {
            level = Math.Max(level, identityRung);
        }

        if (OrganisationUntil is not null && AccountChanges.HighestRungWith(policy, RequirementKind.Organisation) is { } organisationRung)
        {
            level = Math.Max(level, organisationRung);
        }

        return level;
    }

    /// <summary>When a rung with this requirement stops being held (null: it does not expire, or is not held).</summary>
    public DateTimeOffset? ExpiryFor(RequirementKind requirement) => requirement switch
    {
        RequirementKind.Identity => IdentityUntil,
        RequirementKind.Organisation => OrganisationUntil,
        _ => null,
    };

    private static DateTimeOffset? ValidUntil(IEnumerable<VerificationRecord> verifications, string kind, DateTimeOffset now) =>
        verifications
            .Where(v => v.Kind == kind && v.Status == Approved && v.ExpiresAt is { } expires && expires > now)
            .Select(v => v.ExpiresAt)
            .Max();
}
