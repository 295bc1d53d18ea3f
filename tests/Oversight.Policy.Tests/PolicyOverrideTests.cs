using Oversight.Policy.Documents;
using static Oversight.Policy.Tests.TestPolicies;

namespace Oversight.Policy.Tests;

public class PolicyOverrideTests
{
    private const string WithOverrides = MinimalYaml + """

        near_limit_fraction: 0.7
        overrides:
          strict-market:
            near_limit_fraction: 0.5
            fail_mode: closed
            hold_ttl_seconds: 600
          own-ladder-market:
            ladder:
              - id: only
                display_name: Only tier
                requirement: none
                limits:
                  lifetime: { flop_units: 7 }
            shared_tiers: []
        """;

    [Fact]
    public void Resolve_ForAMarketplaceWithoutAnOverride_GivesTheDocumentsOwnFields()
    {
        var document = PolicyLoader.Load(WithOverrides);

        var policy = document.Resolve("some-other-market");

        Assert.Equal(0.7m, policy.Document.NearLimitFraction);
        Assert.Equal(document.Ladder, policy.Document.Ladder);
        Assert.Empty(policy.Document.Overrides);
        Assert.Equal("some-other-market", policy.MarketplaceId);
    }

    [Fact]
    public void Resolve_ForAnOverriddenMarketplace_ReplacesOnlyTheGivenFields()
    {
        var document = PolicyLoader.Load(WithOverrides);

        var policy = document.Resolve("strict-market").Document;

        Assert.Equal(0.5m, policy.NearLimitFraction);
        Assert.Equal(600, policy.HoldTtlSeconds);
        Assert.Equal(document.Utilisation, policy.Utilisation);
        Assert.Equal(document.Ladder, policy.Ladder);
        Assert.Equal(document.Windows, policy.Windows);
    }

    [Fact]
    public void Resolve_WithAnOverriddenLadder_ReplacesTheLadderWhole()
    {
        var policy = PolicyLoader.Load(WithOverrides).Resolve("own-ladder-market");

        var tier = Assert.Single(policy.Ladder);
        Assert.Equal("only", tier.Id);
        Assert.Empty(policy.SharedTierIds);
    }

    [Fact]
    public void Resolve_OfNull_GivesTheDocumentsDefaults()
    {
        var policy = PolicyLoader.Load(WithOverrides).Resolve(null);

        Assert.Null(policy.MarketplaceId);
        Assert.Equal(0.7m, policy.Document.NearLimitFraction);
    }

    [Fact]
    public void SharedTiers_WhenLeftOut_DefaultToTiersNeedingNoVerification()
    {
        var policy = PolicyLoader.Load(MinimalYaml).Resolve(null);

        Assert.Equal(["anonymous", "purpose"], policy.SharedTierIds.Order());
    }

    [Fact]
    public void PolicyVersion_ResolvesLikeItsDocument()
    {
        var version = new PolicyVersion(7, DefaultPolicy.Document);

        Assert.Equal(DefaultPolicy.Document.Resolve("m").Document, version.Resolve("m").Document);
        Assert.Equal(7, version.Version);
    }

    [Fact]
    public void LimitsFor_ListsTheTiersLimitsInWindowOrderAndMarksSharedOnes()
    {
        var policy = Default;

        Assert.Equal(
            [
                new LimitCheck(Day, Metric.FlopUnits, 20_000_000, true),
                new LimitCheck(Day, Metric.GpuSeconds, 86_400, true),
                new LimitCheck(Month, Metric.FlopUnits, 100_000_000, true),
                new LimitCheck(Month, Metric.GpuSeconds, 360_000, true),
                new LimitCheck(Lifetime, Metric.FlopUnits, 300_000_000, true),
            ],
            policy.LimitsFor(0));
        Assert.Equal([new LimitCheck(Lifetime, Metric.FlopUnits, 100_000_000_000_000, false)], policy.LimitsFor(3));
    }

    [Fact]
    public void LimitsFor_ATierOffTheLadder_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Default.LimitsFor(4));

    [Fact]
    public void TryGetTierLevel_FindsTiersById()
    {
        Assert.True(Default.TryGetTierLevel("identity_verified", out var level));
        Assert.Equal(2, level);
        Assert.False(Default.TryGetTierLevel("Identity_Verified", out _));
    }
}
