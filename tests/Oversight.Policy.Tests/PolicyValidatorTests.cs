using Oversight.Policy.Documents;
using static Oversight.Policy.Tests.TestPolicies;

namespace Oversight.Policy.Tests;

public class PolicyValidatorTests
{
    private static readonly PolicyDocument Valid = DefaultPolicy.Document;

    private static PolicyDocument WithTier(int level, Func<TierDefinition, TierDefinition> change) =>
        Valid with { Ladder = [.. Valid.Ladder.Select((t, i) => i == level ? change(t) : t)] };

    private static PolicyDocument WithLimit(int level, string window, WindowLimits limits) =>
        WithTier(level, t => t with
        {
            Limits = new ValueMap<WindowLimits>(t.Limits.Where(l => l.Key != window).Append(new(window, limits))),
        });

    private static PolicyDocument WithWindow(int index, WindowDefinition window) =>
        Valid with { Windows = [.. Valid.Windows.Select((w, i) => i == index ? window : w)] };

    public static TheoryData<string, PolicyDocument> InvalidDocuments => new()
    {
        { "windows", Valid with { Windows = [] } },
        { "windows[1].id", Valid with { Windows = [.. Valid.Windows.Select(w => w.Id == Month ? w with { Id = Day } : w)] } },
        { "windows[0].id", WithWindow(0, WindowDefinition.Rolling("24 h", 86400, 3600)) },
        { "windows[0].id", WithWindow(0, WindowDefinition.Rolling("{tag}", 86400, 3600)) },
        { "windows[0].length_seconds", WithWindow(0, WindowDefinition.Rolling(Day, 0, 3600)) },
        { "windows[0].bucket_seconds", WithWindow(0, WindowDefinition.Rolling(Day, 86400, 0)) },
        { "windows[0].length_seconds", WithWindow(0, WindowDefinition.Rolling(Day, (1L << 40) * 2, 86400)) },
        { "windows[0].bucket_seconds", WithWindow(0, WindowDefinition.Rolling(Day, 86400, 7000)) },
        { "windows[0].bucket_seconds", WithWindow(0, WindowDefinition.Rolling(Day, 86400, 172800)) },
        { "windows[0].bucket_seconds", WithWindow(0, new WindowDefinition(Day, 86400, null)) },
        { "windows[2].bucket_seconds", WithWindow(2, new WindowDefinition(Lifetime, null, 86400)) },
        { "ladder", Valid with { Ladder = [] } },
        { "ladder[1].id", WithTier(1, t => t with { Id = "anonymous" }) },
        { "ladder[1].id", WithTier(1, t => t with { Id = "" }) },
        { "ladder[1].display_name", WithTier(1, t => t with { DisplayName = " " }) },
        { "ladder[0].requirement", WithTier(0, t => t with { Requirement = RequirementKind.StatedPurpose }) },
        { "ladder[2].requirement", WithTier(2, t => t with { Requirement = RequirementKind.None }) },
        { "ladder[2].requirement", WithTier(2, t => t with { Requirement = RequirementKind.Unspecified }) },
        { "ladder[2].requirement", WithTier(2, t => t with { Requirement = (RequirementKind)42 }) },
        { "ladder[1].limits.7d", WithLimit(1, "7d", new WindowLimits(1, 1)) },
        { "ladder[0].limits.24h.flop_units", WithLimit(0, Day, new WindowLimits(-1, 86400)) },
        { "ladder[0].limits.24h.gpu_seconds", WithLimit(0, Day, new WindowLimits(20_000_000, -5)) },
        // A higher tier with a lower limit than the tier below, in each metric.
        { "ladder[1].limits.30d.flop_units", WithLimit(1, Month, new WindowLimits(99_999_999, 36_000_000)) },
        { "ladder[1].limits.30d.gpu_seconds", WithLimit(1, Month, new WindowLimits(10_000_000_000, 359_999)) },
        // The tier below has no limit (infinite), so any limit here is lower.
        { "ladder[3].limits.24h.gpu_seconds", WithLimit(3, Day, new WindowLimits(null, long.MaxValue)) },
        { "near_limit_fraction", Valid with { NearLimitFraction = 0m } },
        { "near_limit_fraction", Valid with { NearLimitFraction = 1m } },
        { "utilisation", Valid with { Utilisation = 0m } },
        { "utilisation", Valid with { Utilisation = 1.01m } },
        { "shared_tiers[1]", Valid with { SharedTierIds = ["anonymous", "nobody"] } },
        { "shared_tiers[1]", Valid with { SharedTierIds = ["anonymous", "anonymous"] } },
        { "fail_mode", Valid with { FailMode = (FailMode)7 } },
        { "hold_ttl_seconds", Valid with { HoldTtlSeconds = 0 } },
        { "counted_mark_retention_seconds", Valid with { CountedMarkRetentionSeconds = -1 } },
        { "overrides.m1.near_limit_fraction", Valid with { Overrides = new([new("m1", new PolicyOverride { NearLimitFraction = 2m })]) } },
        { "overrides. ", Valid with { Overrides = new([new(" ", new PolicyOverride())]) } },
        // An override that replaces the windows leaves the inherited ladder naming a window it dropped.
        { "overrides.m1.ladder[0].limits.30d", Valid with { Overrides = new([new("m1", new PolicyOverride { Windows = [WindowDefinition.Rolling(Day, 86400, 3600), WindowDefinition.Lifetime(Lifetime)] })]) } },
    };

    [Theory]
    [MemberData(nameof(InvalidDocuments))]
    public void Validate_OfAnInvalidDocument_RefusesItNamingTheField(string field, PolicyDocument document)
    {
        var e = Assert.Throws<PolicyValidationException>(() => PolicyValidator.Validate(document));

        Assert.Equal(field, e.Field);
        Assert.Contains($"'{field}'", e.Message);
    }

    [Fact]
    public void Validate_OfTheDefault_Passes() => PolicyValidator.Validate(Valid);

    [Fact]
    public void Validate_AcceptsEqualLimitsOnNeighbouringTiers() =>
        PolicyValidator.Validate(WithLimit(1, Day, Valid.Ladder[0].Limits[Day]));

    [Fact]
    public void Validate_AcceptsAHigherTierThatDropsALimit() =>
        PolicyValidator.Validate(Valid with { Ladder = [Valid.Ladder[0], Valid.Ladder[1] with { Limits = ValueMap<WindowLimits>.Empty }] });

    [Fact]
    public void Load_OfADocumentWithAMonotonicityBreach_NamesTheLimitPath()
    {
        var text = MinimalYaml.Replace("24h: { flop_units: 200, gpu_seconds: 20 }", "24h: { flop_units: 200, gpu_seconds: 9 }");

        var e = Assert.Throws<PolicyValidationException>(() => PolicyLoader.Load(text));

        Assert.Equal("ladder[1].limits.24h.gpu_seconds", e.Field);
        Assert.Contains("anonymous", e.Message);
    }

    [Fact]
    public void Resolve_OfAnUnvalidatedInvalidDocument_Refuses()
    {
        var document = Valid with { Utilisation = 2m };

        Assert.Throws<PolicyValidationException>(() => document.Resolve(null));
    }
}
