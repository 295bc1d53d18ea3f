using System.Globalization;
using Oversight.Policy.Counters;
using Oversight.Policy.Documents;

namespace Oversight.Policy.Decisions;

/// <summary>
/// The verdict rule (DESIGN.md "Policy"), a pure function. A suspended account is denied.
/// Otherwise the rule finds the lowest tier, from the account's own upwards, whose limits in
/// every window hold usage + held + the request (a shared tier's limits against the cluster's
/// sums when the account is linked): the account's own tier gives ALLOW (ALLOW_NEAR_LIMIT past
/// the near-limit fraction), a higher one REQUIRE_ its requirement, none DENY. An erased account
/// cannot take a step up, so for it the ladder ends at its own tier: past that, DENY.
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
        _ = policy.Tier(account.TierLevel);
        if (!account.Suspended)
        {
            // Every figure the rule may read must be there, whether or not this request reaches its tier.
            foreach (var key in RequiredFigures(policy, account))
            {
                _ = snapshot.Get(key);
            }
        }

        var figures = snapshot.ToFigures(policy.Layout);
        return Explain(policy, account, figures, request, Rule(policy, account, figures, request));
    }

    /// <summary>
    /// The rule itself, without allocating: the verdict, the tier it requires and the window that
    /// decided, read from figures laid out as <see cref="EffectivePolicy.Layout"/> says (a figure
    /// with a negative usage is missing). <see cref="Explain"/> turns it into a <see cref="Decision"/>.
    /// </summary>
    internal static Ruling Rule(EffectivePolicy policy, AccountStanding account, ReadOnlySpan<UsageFigures> figures, RequestAmounts request)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(request.FlopUnits, nameof(request));
        ArgumentOutOfRangeException.ThrowIfNegative(request.GpuSeconds, nameof(request));
        var level = account.TierLevel;
        _ = policy.Tier(level);
        if (account.Suspended)
        {
            return new Ruling(Verdict.Deny, null, -1);
        }

        // The first tier that fits, from the account's own up, decides.
        var exceeded = FirstExceeded(policy, level, account.Linked, figures, request);
        if (exceeded < 0)
        {
            return Allowed(policy, level, account.Linked, figures, request);
        }

        // Asking an erased account for a step it cannot take would be no answer: it is denied.
        var highestReachable = account.Erased ? level : policy.Ladder.Count - 1;
        for (var higher = level + 1; higher <= highestReachable; higher++)
        {
            if (FirstExceeded(policy, higher, account.Linked, figures, request) < 0)
            {
                var verdict = policy.Tier(higher).Requirement switch
                {
                    RequirementKind.StatedPurpose => Verdict.RequireStatedPurpose,
                    RequirementKind.Identity => Verdict.RequireIdentity,
                    RequirementKind.Organisation => Verdict.RequireOrganisation,
                    // Validation keeps "none" to the first rung; were it higher, nothing would be asked of the account.
                    _ => Verdict.Allow,
                };
                return new Ruling(verdict, higher, exceeded);
            }
        }

        return new Ruling(Verdict.Deny, null, exceeded);
    }

    /// <summary>The ruling as a <see cref="Decision"/>: the current tier's windows and a sentence for a person.</summary>
    internal static Decision Explain(EffectivePolicy policy, AccountStanding account, ReadOnlySpan<UsageFigures> figures, RequestAmounts request, Ruling ruling)
    {
        var level = account.TierLevel;
        var current = policy.Tier(level);
        if (account.Suspended)
        {
            return new Decision(Verdict.Deny, level, current, null, null, null, [], "the account is suspended; no compute can be authorized");
        }

        var windows = Assess(policy, level, account.Linked, figures, request);
        var decidingLimit = ruling is { Verdict: Verdict.Allow, RequiredTierLevel: null } ? Closest(policy, level, account.Linked, figures, request) : ruling.DecidingLimit;
        var deciding = decidingLimit >= 0 ? windows[decidingLimit] : null;
        if (ruling.RequiredTierLevel is not { } higher)
        {
            if (ruling.Verdict == Verdict.Deny)
            {
                return new Decision(Verdict.Deny, level, current, null, null, deciding, windows, account.Erased
                    ? () => $"{Describe(deciding!)}; the account was erased, so it can take no step to a higher tier"
                    : () => $"{Describe(deciding!)}; no tier of the ladder allows this request");
            }

            var nearLimit = ruling.Verdict == Verdict.AllowNearLimit;
            var fraction = policy.Document.NearLimitFraction;
            return new Decision(ruling.Verdict, level, current, null, null, deciding, windows, () => (nearLimit, deciding) switch
            {
                (_, null) => $"{current.Id} tier: allowed; the tier has no limits",
                (true, _) => $"{Describe(deciding)}, past {Percent(fraction)} of the limit",
                (false, _) => string.Create(CultureInfo.InvariantCulture, $"{current.Id} tier: allowed; closest to its limit is the {deciding.WindowId} {Label(deciding.Metric)} window at {deciding.After:N0} of {deciding.Limit:N0} {Unit(deciding.Metric)}"),
            });
        }

        var required = policy.Tier(higher);
        var action = required.Requirement switch
        {
            RequirementKind.StatedPurpose => "state a purpose",
            RequirementKind.Identity => "verify your identity",
            RequirementKind.Organisation => "verify your organisation",
            _ => "no step is needed",
        };
        return new Decision(ruling.Verdict, level, current, higher, required, deciding, windows,
            () => $"{Describe(deciding!)}; {action} (tier {required.Id}) to continue");
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

    /// <summary>The index of the tier's first limit the request would exceed, or -1 when all hold.</summary>
    private static int FirstExceeded(EffectivePolicy policy, int level, bool linked, ReadOnlySpan<UsageFigures> figures, RequestAmounts request)
    {
        var limits = policy.LayoutLimitsFor(level);
        for (var i = 0; i < limits.Length; i++)
        {
            if (After(policy, limits[i], linked, figures, request) > limits[i].Limit)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// ALLOW, or ALLOW_NEAR_LIMIT when a window would be past the near-limit fraction; for
    /// ALLOW_NEAR_LIMIT the deciding window is the one closest to its limit among those past it.
    /// ALLOW names none: which window is closest only matters to the explanation (<see cref="Closest"/>),
    /// and comparing fills exactly takes 128-bit products the replay's millions of verdicts need not pay for.
    /// </summary>
    private static Ruling Allowed(EffectivePolicy policy, int level, bool linked, ReadOnlySpan<UsageFigures> figures, RequestAmounts request)
    {
        var limits = policy.LayoutLimitsFor(level);
        var highestNotNear = policy.HighestNotNearFor(level);
        int closestPast = -1;
        Int128 closestPastAfter = 0;
        for (var i = 0; i < limits.Length; i++)
        {
            var after = After(policy, limits[i], linked, figures, request);
            if (after > highestNotNear[i] && (closestPast < 0 || FillsMore(after, limits[i].Limit, closestPastAfter, limits[closestPast].Limit)))
            {
                (closestPast, closestPastAfter) = (i, after);
            }
        }

        return closestPast >= 0 ? new Ruling(Verdict.AllowNearLimit, null, closestPast) : new Ruling(Verdict.Allow, null, -1);
    }

    /// <summary>The tier's limit the request would bring closest to full, or -1 when the tier has none.</summary>
    private static int Closest(EffectivePolicy policy, int level, bool linked, ReadOnlySpan<UsageFigures> figures, RequestAmounts request)
    {
        var limits = policy.LayoutLimitsFor(level);
        var closest = -1;
        Int128 closestAfter = 0;
        for (var i = 0; i < limits.Length; i++)
        {
            var after = After(policy, limits[i], linked, figures, request);
            if (closest < 0 || FillsMore(after, limits[i].Limit, closestAfter, limits[closest].Limit))
            {
                (closest, closestAfter) = (i, after);
            }
        }

        return closest;
    }

    /// <summary>Usage + held + request in one limit's window and metric: what it would hold if the request ran.</summary>
    private static Int128 After(EffectivePolicy policy, LayoutLimit limit, bool linked, ReadOnlySpan<UsageFigures> figures, RequestAmounts request)
    {
        var figure = Figure(policy, limit, linked, figures);
        return (Int128)figure.Usage + figure.Held + (limit.Metric == Metric.FlopUnits ? request.FlopUnits : request.GpuSeconds);
    }

    // An unlinked account is a cluster of one: its own figures are the cluster's.
    private static UsageFigures Figure(EffectivePolicy policy, LayoutLimit limit, bool linked, ReadOnlySpan<UsageFigures> figures)
    {
        var subject = limit.Subject == SubjectKind.Cluster && linked ? SubjectKind.Cluster : SubjectKind.Own;
        var figure = figures[policy.Layout.FigureIndex(subject, limit.Window, limit.Metric)];
        return figure.Usage >= 0
            ? figure
            : throw new InvalidOperationException(UsageSnapshot.MissingFigure(new UsageKey(subject, policy.CounterWindows[limit.Window].Id, limit.Metric)));
    }

    private static WindowAssessment[] Assess(EffectivePolicy policy, int level, bool linked, ReadOnlySpan<UsageFigures> figures, RequestAmounts request)
    {
        var tierId = policy.Tier(level).Id;
        var checks = policy.LimitArray(level);
        var limits = policy.LayoutLimitsFor(level);
        var windows = new WindowAssessment[checks.Length];
        for (var i = 0; i < windows.Length; i++)
        {
            var check = checks[i];
            var figure = Figure(policy, limits[i], linked, figures);
            windows[i] = new WindowAssessment(tierId, check.WindowId, check.Metric, check.SharedByCluster && linked,
                figure.Usage, figure.Held, request.For(check.Metric), check.Limit);
        }

        return windows;
    }

    private static UsageKey KeyFor(LimitCheck check, bool linked) =>
        new(check.SharedByCluster && linked ? SubjectKind.Cluster : SubjectKind.Own, check.WindowId, check.Metric);

    // Whether a/aLimit > b/bLimit, compared exactly (cross-multiplied); a zero limit counts as full.
    // After < 3 x 2^63 and limits < 2^63, so each product is below 2^128: UInt128 holds it.
    private static bool FillsMore(Int128 a, long aLimit, Int128 b, long bLimit)
    {
        static (UInt128 Numerator, UInt128 Denominator) Fill(Int128 after, long limit) =>
            limit == 0 ? (1, 1) : ((UInt128)after, (UInt128)limit);
        var (an, ad) = Fill(a, aLimit);
        var (bn, bd) = Fill(b, bLimit);
        return an * bd > bn * ad;
    }

    private static string Describe(WindowAssessment w) => string.Create(CultureInfo.InvariantCulture,
        $"{w.TierId} tier: {w.WindowId} {Label(w.Metric)} window{(w.SharedByCluster ? " (one budget for the account and any accounts linked with it)" : "")} would reach {w.After:N0} of {w.Limit:N0} {Unit(w.Metric)}");

    private static string Label(Metric metric) => metric == Metric.FlopUnits ? "FLOP" : "GPU-time";

    private static string Unit(Metric metric) => metric == Metric.FlopUnits ? "units" : "GPU-seconds";

    private static string Percent(decimal fraction) => (fraction * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%";
}

/// <summary>What the verdict rule decided, before it is explained.</summary>
/// <param name="RequiredTierLevel">The tier that would fit, when it is above the account's own; otherwise null.</param>
/// <param name="DecidingLimit">An index into the current tier's limits: the first exceeded, or for ALLOW_NEAR_LIMIT the closest to its limit among those past the fraction; -1 for ALLOW (its explanation works out the closest) and for none.</param>
internal readonly record struct Ruling(Verdict Verdict, int? RequiredTierLevel, int DecidingLimit);
