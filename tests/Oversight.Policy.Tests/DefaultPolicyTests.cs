using Oversight.Policy.Documents;
using static Oversight.Policy.Tests.TestPolicies;

namespace Oversight.Policy.Tests;

/// <summary>The default ladder carries the domain reference's numbers, converted to units.</summary>
public class DefaultPolicyTests
{
    private static readonly PolicyDocument Document = DefaultPolicy.Document;

    [Fact]
    public void Default_HasTheFourRungsWithTheirRequirements()
    {
        Assert.Equal(
            [
                ("anonymous", RequirementKind.None),
                ("stated_purpose", RequirementKind.StatedPurpose),
                ("identity_verified", RequirementKind.Identity),
                ("organisation_verified", RequirementKind.Organisation),
            ],
            Document.Ladder.Select(t => (t.Id, t.Requirement)));
    }

    [Fact]
    public void Default_HasRolling24hAnd30dWindowsAndALifetimeWindow()
    {
        Assert.Equal(
            [WindowDefinition.Rolling(Day, 86_400, 3_600), WindowDefinition.Rolling(Month, 2_592_000, 86_400), WindowDefinition.Lifetime(Lifetime)],
            Document.Windows);
    }

    // FLOP figures from the reference table, as FLOP; 1 unit = 1e12 FLOP. GPU-hours x 3600 = GPU-seconds.
    [Theory]
    [InlineData("anonymous", Day, 2e19, 24.0)]
    [InlineData("anonymous", Month, 1e20, 100.0)]
    [InlineData("anonymous", Lifetime, 3e20, null)]
    [InlineData("stated_purpose", Day, 2e21, 2_400.0)]
    [InlineData("stated_purpose", Month, 1e22, 10_000.0)]
    [InlineData("stated_purpose", Lifetime, 1e23, null)]
    [InlineData("identity_verified", Day, 2e23, null)]
    [InlineData("identity_verified", Month, 1e24, 1_000_000.0)]
    [InlineData("identity_verified", Lifetime, 1e25, null)]
    [InlineData("organisation_verified", Day, null, null)]
    [InlineData("organisation_verified", Month, null, null)]
    [InlineData("organisation_verified", Lifetime, 1e26, null)]
    public void Default_LimitsMatchTheReferenceLadder(string tierId, string window, double? flop, double? gpuHours)
    {
        var tier = Document.Ladder.Single(t => t.Id == tierId);

        Assert.Equal(flop is null ? null : FlopUnitsOf(flop.Value), tier.LimitFor(window, Metric.FlopUnits));
        Assert.Equal(gpuHours is null ? null : (long)(gpuHours.Value * 3600), tier.LimitFor(window, Metric.GpuSeconds));
    }

    [Fact]
    public void Default_SpellsOutTheUnitConversionsInUnits()
    {
        Assert.Equal(20_000_000, Document.Ladder[0].LimitFor(Day, Metric.FlopUnits));
        Assert.Equal(86_400, Document.Ladder[0].LimitFor(Day, Metric.GpuSeconds));
        Assert.Equal(100_000_000_000_000, Document.Ladder[3].LimitFor(Lifetime, Metric.FlopUnits));
    }

    [Fact]
    public void Default_SharesTheAnonymousAndStatedPurposeBudgetsAndKeepsTheDocumentedSettings()
    {
        Assert.Equal(["anonymous", "stated_purpose"], Document.SharedTierIds!);
        Assert.Equal(0.8m, Document.NearLimitFraction);
        Assert.Equal(0.4m, Document.Utilisation);
        Assert.Equal(FailMode.Closed, Document.FailMode);
        Assert.Equal(21_600, Document.HoldTtlSeconds);
        Assert.Equal(2_592_000, Document.CountedMarkRetentionSeconds);
        Assert.Empty(Document.Overrides);
    }

    [Fact]
    public void DefaultYaml_NamesTheSourceOfTheLegalThresholds()
    {
        Assert.Contains("EU AI Act Art. 51(2)", DefaultPolicy.Yaml);
        Assert.Contains("EO 14110", DefaultPolicy.Yaml);
    }

    private static long FlopUnitsOf(double flop) => Accelerators.FlopUnits.FromFlop(flop);
}
