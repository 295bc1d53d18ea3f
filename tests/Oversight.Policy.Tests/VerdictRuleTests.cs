using Oversight.Policy.Decisions;
using Oversight.Policy.Documents;
using static Oversight.Policy.Tests.TestPolicies;

namespace Oversight.Policy.Tests;

/// <summary>The verdict rule against the default ladder (anonymous 24h: 20,000,000 units, 86,400 GPU-seconds).</summary>
public class VerdictRuleTests
{
    private static readonly EffectivePolicy Policy = Default;
    private static readonly AccountStanding Anonymous = new(TierLevel: 0);
    private static readonly AccountStanding LinkedAnonymous = new(TierLevel: 0, Linked: true);

    private static Decision Decide(AccountStanding account, long flop, long gpuSeconds = 0, params (SubjectKind, string, Metric, long, long)[] figures) =>
        VerdictRule.Decide(Policy, account, Snapshot(Policy, account, figures), new RequestAmounts(flop, gpuSeconds));

    [Fact]
    public void Decide_WhenWellWithinTheTier_Allows()
    {
        var decision = Decide(Anonymous, flop: 1_000, gpuSeconds: 3_600);

        Assert.Equal(Verdict.Allow, decision.Verdict);
        Assert.Null(decision.RequiredTier);
        Assert.Equal("anonymous", decision.CurrentTier.Id);
        Assert.Equal(5, decision.CurrentTierWindows.Count);
        // 3,600 of 86,400 GPU-seconds is the largest share of any limit.
        Assert.Equal((Day, Metric.GpuSeconds), (decision.DecidingWindow!.WindowId, decision.DecidingWindow.Metric));
        Assert.StartsWith("anonymous tier: allowed", decision.Message);
    }

    [Fact]
    public void Decide_WhenAWindowWouldPassTheNearLimitFraction_AllowsNearLimit()
    {
        var decision = Decide(Anonymous, flop: 1_000_100, figures: (SubjectKind.Own, Day, Metric.FlopUnits, 15_000_000, 0));

        Assert.Equal(Verdict.AllowNearLimit, decision.Verdict);
        Assert.Equal((Day, Metric.FlopUnits), (decision.DecidingWindow!.WindowId, decision.DecidingWindow.Metric));
        Assert.Equal("anonymous tier: 24h FLOP window would reach 16,000,100 of 20,000,000 units, past 80% of the limit", decision.Message);
    }

    [Fact]
    public void Decide_WhenAWindowWouldReachExactlyTheNearLimitFraction_StillAllows() =>
        Assert.Equal(Verdict.Allow, Decide(Anonymous, flop: 1_000_000, figures: (SubjectKind.Own, Day, Metric.FlopUnits, 15_000_000, 0)).Verdict);

    [Fact]
    public void Decide_WhenTheRequestExactlyFillsTheLimit_AllowsNearLimit() =>
        Assert.Equal(Verdict.AllowNearLimit, Decide(Anonymous, flop: 20_000_000).Verdict);

    [Fact]
    public void Decide_WhenAnonymousBudgetIsUsed_RequiresStatedPurpose()
    {
        var decision = Decide(Anonymous, flop: 100, figures: (SubjectKind.Own, Day, Metric.FlopUnits, 19_000_000, 1_000_000));

        Assert.Equal(Verdict.RequireStatedPurpose, decision.Verdict);
        Assert.Equal(1, decision.RequiredTierLevel);
        Assert.Equal("stated_purpose", decision.RequiredTier!.Id);
        var window = decision.DecidingWindow!;
        Assert.Equal((Day, Metric.FlopUnits, 19_000_000L, 1_000_000L, 20_000_000L, 0L), (window.WindowId, window.Metric, window.Usage, window.Held, window.Limit, window.Remaining));
        Assert.Equal("anonymous tier: 24h FLOP window would reach 20,000,100 of 20,000,000 units; state a purpose (tier stated_purpose) to continue", decision.Message);
    }

    [Fact]
    public void Decide_WhenGpuTimeIsWhatRunsOut_NamesTheGpuWindow()
    {
        var decision = Decide(Anonymous, flop: 10, gpuSeconds: 90_000);

        Assert.Equal(Verdict.RequireStatedPurpose, decision.Verdict);
        Assert.Equal((Day, Metric.GpuSeconds), (decision.DecidingWindow!.WindowId, decision.DecidingWindow.Metric));
        Assert.Contains("24h GPU-time window would reach 90,000 of 86,400 GPU-seconds", decision.Message);
    }

    [Fact]
    public void Decide_ForALargeAnonymousRequest_RequiresIdentityDirectly()
    {
        // 5e22 FLOP: past the stated-purpose tier's 30-day 1e22, within identity's 30-day 1e24.
        var decision = Decide(Anonymous, flop: 50_000_000_000);

        Assert.Equal(Verdict.RequireIdentity, decision.Verdict);
        Assert.Equal(2, decision.RequiredTierLevel);
        Assert.Equal((Day, Metric.FlopUnits), (decision.DecidingWindow!.WindowId, decision.DecidingWindow.Metric));
        Assert.EndsWith("verify your identity (tier identity_verified) to continue", decision.Message);
    }

    [Fact]
    public void Decide_ForARequestPastTheIdentityTier_RequiresOrganisation()
    {
        var decision = Decide(Anonymous, flop: 2_000_000_000_000);

        Assert.Equal(Verdict.RequireOrganisation, decision.Verdict);
        Assert.Equal("organisation_verified", decision.RequiredTier!.Id);
    }

    [Fact]
    public void Decide_ForARequestAboveEveryTier_Denies()
    {
        var decision = Decide(Anonymous, flop: 100_000_000_000_001);

        Assert.Equal(Verdict.Deny, decision.Verdict);
        Assert.Null(decision.RequiredTier);
        Assert.NotNull(decision.DecidingWindow);
        Assert.EndsWith("no tier of the ladder allows this request", decision.Message);
    }

    [Fact]
    public void Decide_AtTheTopTierPastItsLifetimeLimit_DeniesNamingTheLifetimeWindow()
    {
        var account = new AccountStanding(TierLevel: 3);

        var decision = Decide(account, flop: 2, figures: (SubjectKind.Own, Lifetime, Metric.FlopUnits, 100_000_000_000_000, 0));

        Assert.Equal(Verdict.Deny, decision.Verdict);
        Assert.Equal(Lifetime, decision.DecidingWindow!.WindowId);
        Assert.Equal(0, decision.DecidingWindow.Remaining);
    }

    [Fact]
    public void Decide_ForASuspendedAccount_DeniesWhateverTheRequest()
    {
        var decision = VerdictRule.Decide(Policy, new AccountStanding(TierLevel: 3, Suspended: true), UsageSnapshot.Empty, new RequestAmounts(0, 0));

        Assert.Equal(Verdict.Deny, decision.Verdict);
        Assert.Null(decision.DecidingWindow);
        Assert.Empty(decision.CurrentTierWindows);
        Assert.Contains("suspended", decision.Message);
    }

    [Fact]
    public void Decide_ForAnErasedAccount_DeniesWhatNeedsAStepUp_AndAllowsWhatItsTierHolds()
    {
        var erased = new AccountStanding(TierLevel: 0, Erased: true);

        var refused = Decide(erased, flop: 100, figures: (SubjectKind.Own, Day, Metric.FlopUnits, 19_000_000, 1_000_000));
        var allowed = Decide(erased, flop: 100);

        Assert.Equal(Verdict.Deny, refused.Verdict);
        Assert.Null(refused.RequiredTier);
        Assert.Equal((Day, Metric.FlopUnits), (refused.DecidingWindow!.WindowId, refused.DecidingWindow.Metric));
        Assert.Equal("anonymous tier: 24h FLOP window would reach 20,000,100 of 20,000,000 units; the account was erased, so it can take no step to a higher tier", refused.Message);
        Assert.Equal(Verdict.Allow, allowed.Verdict);
    }

    [Fact]
    public void Decide_WhenTheLinkedClusterUsedTheSharedBudget_RequiresAStepUpThoughOwnUsageIsSmall()
    {
        var decision = Decide(LinkedAnonymous, flop: 10, figures:
        [
            (SubjectKind.Own, Day, Metric.FlopUnits, 5, 0),
            (SubjectKind.Cluster, Day, Metric.FlopUnits, 19_999_995, 0),
        ]);

        Assert.Equal(Verdict.RequireStatedPurpose, decision.Verdict);
        Assert.True(decision.DecidingWindow!.SharedByCluster);
        Assert.Equal(19_999_995, decision.DecidingWindow.Usage);
        Assert.Contains("(one budget for the account and any accounts linked with it)", decision.Message);
    }

    [Fact]
    public void Decide_ForAnUnlinkedAccount_IgnoresClusterFigures()
    {
        var snapshot = Snapshot(Policy, Anonymous).With(SubjectKind.Cluster, Day, Metric.FlopUnits, 19_999_995, 0);

        var decision = VerdictRule.Decide(Policy, Anonymous, snapshot, new RequestAmounts(10, 0));

        Assert.Equal(Verdict.Allow, decision.Verdict);
        Assert.All(decision.CurrentTierWindows, w => Assert.False(w.SharedByCluster));
    }

    [Fact]
    public void Decide_WhenTheClusterUsedBothSharedTiers_AsksTheLinkedAccountForIdentity()
    {
        // The identity tier is not shared, so the account's own (small) usage is what counts there.
        var decision = Decide(LinkedAnonymous, flop: 10, figures: (SubjectKind.Cluster, Lifetime, Metric.FlopUnits, 100_000_000_000, 0));

        Assert.Equal(Verdict.RequireIdentity, decision.Verdict);
    }

    [Fact]
    public void Decide_AtANonSharedTier_UsesOwnUsageEvenWhenLinked()
    {
        var account = new AccountStanding(TierLevel: 2, Linked: true);
        Assert.All(VerdictRule.RequiredFigures(Policy, account), key => Assert.Equal(SubjectKind.Own, key.Subject));
        var snapshot = Snapshot(Policy, account)
            .With(SubjectKind.Cluster, Day, Metric.FlopUnits, 199_999_999_999, 0)
            .With(SubjectKind.Cluster, Lifetime, Metric.FlopUnits, 9_999_999_999_999, 0);

        var decision = VerdictRule.Decide(Policy, account, snapshot, new RequestAmounts(1_000_000, 0));

        Assert.Equal(Verdict.Allow, decision.Verdict);
        Assert.All(decision.CurrentTierWindows, w => Assert.False(w.SharedByCluster));
    }

    [Fact]
    public void Decide_ForAHigherTierAccount_AllowsBeyondTheLowerTiersLimits()
    {
        var decision = Decide(new AccountStanding(TierLevel: 1), flop: 30_000_000, gpuSeconds: 100_000);

        Assert.Equal(Verdict.Allow, decision.Verdict);
        Assert.Equal("stated_purpose", decision.CurrentTier.Id);
    }

    [Fact]
    public void Decide_CountsHeldAmountsLikeUsage()
    {
        var decision = Decide(Anonymous, flop: 1, figures: (SubjectKind.Own, Month, Metric.FlopUnits, 0, 100_000_000));

        Assert.Equal(Verdict.RequireStatedPurpose, decision.Verdict);
        Assert.Equal(Month, decision.DecidingWindow!.WindowId);
    }

    [Fact]
    public void Decide_AtATierWithoutLimits_AllowsWithNoDecidingWindow()
    {
        var policy = new PolicyDocument
        {
            Windows = [WindowDefinition.Lifetime(Lifetime)],
            Ladder = [Tier("anonymous", RequirementKind.None, (Lifetime, 10, null)), Tier("org", RequirementKind.Organisation)],
        }.Resolve(null);

        var decision = VerdictRule.Decide(policy, new AccountStanding(1), UsageSnapshot.Empty, new RequestAmounts(long.MaxValue, long.MaxValue));

        Assert.Equal(Verdict.Allow, decision.Verdict);
        Assert.Null(decision.DecidingWindow);
        Assert.Equal("org tier: allowed; the tier has no limits", decision.Message);
    }

    [Fact]
    public void Decide_WithHugeFigures_DoesNotOverflow()
    {
        var decision = Decide(Anonymous, flop: long.MaxValue, figures: (SubjectKind.Own, Day, Metric.FlopUnits, long.MaxValue, long.MaxValue));

        Assert.Equal(Verdict.Deny, decision.Verdict);
        Assert.Equal(0, decision.DecidingWindow!.Remaining);
    }

    [Fact]
    public void Decide_WhenTheSnapshotLacksAFigure_RefusesRatherThanCountingZero()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            VerdictRule.Decide(Policy, LinkedAnonymous, Snapshot(Policy, Anonymous), new RequestAmounts(1, 1)));

        Assert.Contains("Cluster", e.Message);
    }

    [Fact]
    public void Decide_ForATierOffTheLadderOrANegativeRequest_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => VerdictRule.Decide(Policy, new AccountStanding(4), UsageSnapshot.Empty, new RequestAmounts(1, 1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => VerdictRule.Decide(Policy, Anonymous, Snapshot(Policy, Anonymous), new RequestAmounts(-1, 0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => UsageSnapshot.Empty.With(SubjectKind.Own, Day, Metric.FlopUnits, -1, 0));
    }

    [Fact]
    public void RequiredFigures_ForALinkedAnonymousAccount_AreClusterForSharedTiersAndOwnAbove()
    {
        var keys = VerdictRule.RequiredFigures(Policy, LinkedAnonymous);

        Assert.Contains(new UsageKey(SubjectKind.Cluster, Day, Metric.FlopUnits), keys);
        Assert.Contains(new UsageKey(SubjectKind.Own, Day, Metric.FlopUnits), keys);
        Assert.Contains(new UsageKey(SubjectKind.Own, Lifetime, Metric.FlopUnits), keys);
        Assert.DoesNotContain(new UsageKey(SubjectKind.Own, Day, Metric.GpuSeconds), keys);
        Assert.Equal(keys.Count, keys.Distinct().Count());
    }

    [Fact]
    public void RequiredFigures_ForAnUnlinkedAccount_AreAllOwn() =>
        Assert.All(VerdictRule.RequiredFigures(Policy, Anonymous), key => Assert.Equal(SubjectKind.Own, key.Subject));
}
