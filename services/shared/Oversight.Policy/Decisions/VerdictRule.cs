using System.Globalization;
using Oversight.Policy.Documents;

namespace Oversight.Policy.Decisions;

/// <summary>
/// The verdict rule (DESIGN.md "Policy"), a pure function. A suspended account is denied.
/// Otherwise the rule finds the lowest tier, from the account's own upwards, whose limits in
/// every window hold usage + held + the request (a shared tier's limits against the cluster's
/// sums when the account is linked): the account's own tier gives ALLOW (ALLOW_NEAR_LIMIT past
/// the near-limit fraction), a higher one REQUIRE_ its requirement, none DENY.
/// </summary>
/// <remarks>
/// The search starts at the account's tier, not at the bottom of the ladder: an account is bound
/// by its own tier's limits, so ALLOW always means they all hold. For a validated ladder (limits
/// never fall going up) this is the same as searching from the bottom.
/// </remarks>
public static class VerdictRule
{
    /// <exception cref="ArgumentOutOfRangeException">The tier level is not on the ladder, or a request amount is negative.</exception>
    /// <exception cref="InvalidOperationException">The snapshot lacks a figure the rule needs.</exception>
    public static Decision Decide(EffectivePolicy policy, AccountStanding account, UsageSnapshot snapshot, RequestAmounts request)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(request.FlopUnits, nameof(request));
        ArgumentOutOfRangeException.ThrowIfNegative(request.GpuSeconds, nameof(request));
        var level = account.TierLevel;
        var current = policy.Tier(level);

        if (account.Suspended)
        {
            return new Decision(Verdict.Deny, level, current, null, null, null, [], "the account is suspended; no compute can be authorized");
        }

        var currentWindows = Assess(policy, level, account.Linked, snapshot, request);
        int? fitting = null;
        for (var t = level; t < policy.Ladder.Count && fitting is null; t++)
        {
            // The first tier that fits, from the account's own up, decides.
            if ((t == level ? currentWindows : Assess(policy, t, account.Linked, snapshot, request)).All(w => w.Fits))
            {
                fitting = t;
            }
        }

        if (fitting == level)
        {
            return Allowed(policy, level, current, currentWindows);
        }
        // The current tier does not fit, so one of its windows is exceeded.
        var exceeded = currentWindows.First(w => !w.Fits);
        if (fitting is not { } higher)
        {
            return new Decision(Verdict.Deny, level, current, null, null, exceeded, currentWindows,
                () => $"{Describe(exceeded)}; no tier of the ladder allows this request");
        }
        var required = policy.Tier(higher);
        var (verdict, action) = required.Requirement switch
        {
            RequirementKind.StatedPurpose => (Verdict.RequireStatedPurpose, "state a purpose"),
            RequirementKind.Identity => (Verdict.RequireIdentity, "verify your identity"),
            RequirementKind.Organisation => (Verdict.RequireOrganisation, "verify your organisation"),
            // Validation keeps "none" to the first rung; were it higher, nothing would be asked of the account.
            _ => (Verdict.Allow, "no step is needed"),
        };
        return new Decision(verdict, level, current, higher, required, exceeded, currentWindows,
            () => $"{Describe(exceeded)}; {action} (tier {required.Id}) to continue");
    }

    /// <summary>
    /// The figures <see cref="Decide"/> reads for this account: every limited window and metric of
    /// its tier and the tiers above, as the account's own figures or, for shared tiers of a linked
    /// account, the cluster's.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The tier level is not on the ladder.</exception>
    public static IReadOnlyList<UsageKey> RequiredFigures(EffectivePolicy policy, AccountStanding account)
    {
        _ = policy.Tier(account.TierLevel);
        return Enumerable.Range(account.TierLevel, policy.Ladder.Count - account.TierLevel)
            .SelectMany(policy.LimitsFor)
            .Select(check => KeyFor(check, account.Linked))
            .Distinct()
            .ToArray();
    }

    private static Decision Allowed(EffectivePolicy policy, int level, TierDefinition current, IReadOnlyList<WindowAssessment> windows)
    {
        var fraction = policy.Document.NearLimitFraction;
        var past = windows.Where(w => w.IsPast(fraction)).ToArray();
        var nearLimit = past.Length > 0;
        var closest = Closest(nearLimit ? past : windows);
        return new Decision(nearLimit ? Verdict.AllowNearLimit : Verdict.Allow, level, current, null, null, closest, windows, () => (nearLimit, closest) switch
        {
            (_, null) => $"{current.Id} tier: allowed; the tier has no limits",
            (true, _) => $"{Describe(closest)}, past {Percent(fraction)} of the limit",
            (false, _) => string.Create(CultureInfo.InvariantCulture, $"{current.Id} tier: allowed; closest to its limit is the {closest.WindowId} {Label(closest.Metric)} window at {closest.After:N0} of {closest.Limit:N0} {Unit(closest.Metric)}"),
        });
    }

    private static WindowAssessment[] Assess(EffectivePolicy policy, int level, bool linked, UsageSnapshot snapshot, RequestAmounts request)
    {
        var tierId = policy.Tier(level).Id;
        var checks = policy.LimitsFor(level);
        var windows = new WindowAssessment[checks.Count];
        for (var i = 0; i < windows.Length; i++)
        {
            var check = checks[i];
            var key = KeyFor(check, linked);
            var figures = snapshot.Get(key);
            windows[i] = new WindowAssessment(tierId, check.WindowId, check.Metric, key.Subject == SubjectKind.Cluster,
                figures.Usage, figures.Held, request.For(check.Metric), check.Limit);
        }

        return windows;
    }

    // An unlinked account is a cluster of one: its own figures are the cluster's.
    private static UsageKey KeyFor(LimitCheck check, bool linked) =>
        new(check.SharedByCluster && linked ? SubjectKind.Cluster : SubjectKind.Own, check.WindowId, check.Metric);

    /// <summary>The window with the highest share of its limit used after the request; the first on a tie.</summary>
    private static WindowAssessment? Closest(IReadOnlyList<WindowAssessment> windows)
    {
        WindowAssessment? best = null;
        foreach (var w in windows)
        {
            if (best is null || CompareFill(w, best) > 0)
            {
                best = w;
            }
        }
        return best;
    }

    // Compares After/Limit exactly (cross-multiplied); a zero limit counts as full. After < 3 x 2^63
    // and Limit < 2^63, so each product is below 2^128: UInt128 holds it without a BigInteger.
    private static int CompareFill(WindowAssessment a, WindowAssessment b)
    {
        static (UInt128 Numerator, UInt128 Denominator) Fill(WindowAssessment w) =>
            w.Limit == 0 ? (1, 1) : ((UInt128)w.After, (UInt128)w.Limit);
        var (an, ad) = Fill(a);
        var (bn, bd) = Fill(b);
        return (an * bd).CompareTo(bn * ad);
    }

    private static string Describe(WindowAssessment w) => string.Create(CultureInfo.InvariantCulture,
        $"{w.TierId} tier: {w.WindowId} {Label(w.Metric)} window{(w.SharedByCluster ? " (shared by linked accounts)" : "")} would reach {w.After:N0} of {w.Limit:N0} {Unit(w.Metric)}");

    private static string Label(Metric metric) => metric == Metric.FlopUnits ? "FLOP" : "GPU-time";

    private static string Unit(Metric metric) => metric == Metric.FlopUnits ? "units" : "GPU-seconds";

    private static string Percent(decimal fraction) => (fraction * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%";
}
