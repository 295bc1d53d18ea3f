using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Contracts;
using Oversight.Enforcement.Accounts;
using Oversight.Enforcement.Data;
using Oversight.Hosting.Outbox;
using Oversight.Policy;
using Oversight.Policy.Decisions;

namespace Oversight.Enforcement;

/// <summary>
/// Announces ThresholdCrossed the first time an account needs a step-up (or passes the
/// near-limit fraction) at a tier, through the outbox. The notice row's key makes "first"
/// hold across replicas; a small in-process set spares the database on repeats.
/// </summary>
public sealed class ThresholdNotifier(IServiceScopeFactory scopes, OutboxSignal outbox, TimeProvider clock)
{
    private readonly ConcurrentDictionary<(string, string, int, string), bool> _sent = new();

    public async Task NotifyIfFirstAsync(AccountState account, Decision decision, long policyVersion, CancellationToken cancellationToken)
    {
        var kind = decision.Verdict switch
        {
            Verdict.AllowNearLimit => "NEAR_LIMIT",
            // A suspended or erased account has no step to take: KYC would show one it cannot.
            Verdict.RequireStatedPurpose or Verdict.RequireIdentity or Verdict.RequireOrganisation or Verdict.Deny when !account.Suspended && !account.Erased => "STEP_UP",
            _ => null,
        };
        if (kind is null || decision.DecidingWindow is not { } window)
        {
            return;
        }

        var key = (account.MarketplaceId, account.AccountId, account.TierLevel, kind);
        if (_sent.ContainsKey(key))
        {
            return;
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EnforcementDbContext>();
        if (await db.ThresholdNotices.AnyAsync(
                n => n.MarketplaceId == account.MarketplaceId && n.AccountId == account.AccountId && n.TierLevel == account.TierLevel && n.Kind == kind,
                cancellationToken))
        {
            _sent[key] = true;
            return;
        }

        var now = clock.GetUtcNow();
        db.ThresholdNotices.Add(new ThresholdNoticeRecord
        {
            MarketplaceId = account.MarketplaceId,
            AccountId = account.AccountId,
            TierLevel = account.TierLevel,
            Kind = kind,
            PolicyVersion = policyVersion,
            At = now,
        });
        db.AddEvent(new ThresholdCrossed(
            account.MarketplaceId,
            account.AccountId,
            ProtoNames.Verdict(decision.Verdict),
            kind == "NEAR_LIMIT",
            account.TierLevel,
            decision.RequiredTierLevel,
            decision.RequiredTier?.Id,
            ProtoNames.Requirement(decision.RequiredTier?.Requirement ?? RequirementKind.None),
            window.WindowId,
            ProtoNames.Metric(window.Metric),
            window.Usage,
            window.Held,
            window.Limit,
            policyVersion,
            now), now);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            outbox.Notify();
        }
        catch (DbUpdateException)
        {
            // Another replica announced it first.
        }

        _sent[key] = true;
    }
}

/// <summary>Enumerations as their proto names without prefix, the form events carry them in.</summary>
public static class ProtoNames
{
    public static string Verdict(Verdict verdict) => verdict switch
    {
        Policy.Verdict.Allow => "ALLOW",
        Policy.Verdict.AllowNearLimit => "ALLOW_NEAR_LIMIT",
        Policy.Verdict.RequireStatedPurpose => "REQUIRE_STATED_PURPOSE",
        Policy.Verdict.RequireIdentity => "REQUIRE_IDENTITY",
        Policy.Verdict.RequireOrganisation => "REQUIRE_ORGANISATION",
        Policy.Verdict.Deny => "DENY",
        _ => "UNSPECIFIED",
    };

    public static string Requirement(RequirementKind kind) => kind switch
    {
        RequirementKind.None => "NONE",
        RequirementKind.StatedPurpose => "STATED_PURPOSE",
        RequirementKind.Identity => "IDENTITY",
        RequirementKind.Organisation => "ORGANISATION",
        _ => "UNSPECIFIED",
    };

    public static string Metric(Metric metric) => metric == Policy.Metric.FlopUnits ? "FLOP_UNITS" : "GPU_SECONDS";
}
