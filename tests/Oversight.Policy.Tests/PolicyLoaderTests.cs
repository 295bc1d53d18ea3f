using Oversight.Policy.Documents;
using static Oversight.Policy.Tests.TestPolicies;

namespace Oversight.Policy.Tests;

public class PolicyLoaderTests
{
    [Fact]
    public void Load_OfTheMinimalDocument_FillsDefaultsForLeftOutFields()
    {
        var document = PolicyLoader.Load(MinimalYaml);

        Assert.Equal(0.8m, document.NearLimitFraction);
        Assert.Equal(0.4m, document.Utilisation);
        Assert.Equal(FailMode.Closed, document.FailMode);
        Assert.Equal(6 * 3600, document.HoldTtlSeconds);
        Assert.Equal(30 * 86400, document.CountedMarkRetentionSeconds);
        Assert.Null(document.SharedTierIds);
        Assert.Empty(document.Overrides);
    }

    [Fact]
    public void Load_ReadsWindowsAndLimits()
    {
        var document = PolicyLoader.Load(MinimalYaml);

        Assert.Equal([WindowDefinition.Rolling("24h", 86400, 3600), WindowDefinition.Lifetime("lifetime")], document.Windows);
        Assert.Equal(["anonymous", "purpose"], document.Ladder.Select(t => t.Id));
        Assert.Equal(RequirementKind.StatedPurpose, document.Ladder[1].Requirement);
        Assert.Equal(100, document.Ladder[0].LimitFor("24h", Metric.FlopUnits));
        Assert.Equal(10, document.Ladder[0].LimitFor("24h", Metric.GpuSeconds));
        Assert.Null(document.Ladder[0].LimitFor("lifetime", Metric.GpuSeconds));
    }

    [Fact]
    public void Load_AcceptsTheDefaultPolicyAndItRoundTrips()
    {
        var document = PolicyLoader.Load(DefaultPolicy.Yaml);

        var written = PolicyLoader.ToYaml(document);

        Assert.Equal(document, PolicyLoader.Load(written));
        Assert.Equal(DefaultPolicy.Document, document);
    }

    [Fact]
    public void ToYaml_RoundTripsOverridesAndAwkwardText()
    {
        var document = PolicyLoader.Load(MinimalYaml) with
        {
            Ladder = [.. PolicyLoader.Load(MinimalYaml).Ladder.Select((t, i) => i == 0 ? t with { DisplayName = "null" } : t with { DisplayName = "Purpose: stated, \"quoted\" # not a comment" })],
            SharedTierIds = [],
            FailMode = FailMode.Open,
            Overrides = new ValueMap<PolicyOverride>([
                new("market-1", new PolicyOverride { NearLimitFraction = 0.95m, SharedTierIds = ["purpose"] }),
                new("market-2", new PolicyOverride { Windows = [WindowDefinition.Rolling("24h", 86400, 86400), WindowDefinition.Lifetime("lifetime")] }),
            ]),
        };

        var reloaded = PolicyLoader.Load(PolicyLoader.ToYaml(document));

        Assert.Equal(document, reloaded);
        Assert.Equal("null", reloaded.Ladder[0].DisplayName);
    }

    [Fact]
    public void Load_ReadsJson()
    {
        const string json = """
            {
              "windows": [ { "id": "lifetime" } ],
              "ladder": [
                { "id": "anonymous", "display_name": "Anonymous", "requirement": "none",
                  "limits": { "lifetime": { "flop_units": 5 } } },
                { "id": "org", "display_name": "Organisation", "requirement": "organisation", "limits": {} }
              ],
              "utilisation": 0.3,
              "fail_mode": "open",
              "overrides": { "m1": { "utilisation": 0.5 } }
            }
            """;

        var document = PolicyLoader.Load(json);

        Assert.Equal(0.3m, document.Utilisation);
        Assert.Equal(FailMode.Open, document.FailMode);
        Assert.Equal(5, document.Ladder[0].LimitFor("lifetime", Metric.FlopUnits));
        Assert.Null(document.Ladder[1].LimitFor("lifetime", Metric.FlopUnits));
        Assert.Equal(0.5m, document.Resolve("m1").Document.Utilisation);
    }

    [Theory]
    [InlineData("", "")]
    [InlineData("windows: [", "")]
    [InlineData("- just\n- a list", "")]
    public void Load_OfTextThatIsNoDocument_IsRefused(string text, string field)
    {
        var e = Assert.Throws<PolicyValidationException>(() => PolicyLoader.Load(text));
        Assert.Equal(field, e.Field);
    }

    [Fact]
    public void Load_OfTwoDocuments_IsRefused()
    {
        var e = Assert.Throws<PolicyValidationException>(() => PolicyLoader.Load(MinimalYaml + "\n---\n" + MinimalYaml));
        Assert.Contains("single document", e.Message);
    }

    [Fact]
    public void Load_OfADuplicateKey_IsRefusedWithItsLine()
    {
        var e = Assert.Throws<PolicyValidationException>(() => PolicyLoader.Load(MinimalYaml + "\nutilisation: 0.3\nutilisation: 0.5\n"));
        Assert.Contains("line", e.Message);
    }

    [Theory]
    [InlineData("colour: blue", "colour")]
    [InlineData("near_limit: 0.8", "near_limit")]
    [InlineData("overrides:\n  m1:\n    overrides: {}", "overrides.m1.overrides")]
    [InlineData("overrides:\n  m1:\n    utilization: 0.3", "overrides.m1.utilization")]
    public void Load_OfAnUnknownTopLevelKey_IsRefusedNamingIt(string extra, string field)
    {
        var e = Assert.Throws<PolicyValidationException>(() => PolicyLoader.Load(MinimalYaml + "\n" + extra + "\n"));

        Assert.Equal(field, e.Field);
        Assert.Contains($"unknown key '{field}'", e.Message);
    }

    [Theory]
    [InlineData("bucket_seconds: 3600", "bucket_seconds: 3600\n    bucket: 60", "windows[0].bucket")]
    [InlineData("display_name: Anonymous", "display_name: Anonymous\n    name: x", "ladder[0].name")]
    [InlineData("24h: { flop_units: 100, gpu_seconds: 10 }", "24h: { flop_units: 100, gpu_seconds: 10, tflops: 1 }", "ladder[0].limits.24h.tflops")]
    public void Load_OfAnUnknownNestedKey_IsRefusedNamingItsPath(string from, string to, string field)
    {
        var e = Assert.Throws<PolicyValidationException>(() => PolicyLoader.Load(MinimalYaml.Replace(from, to)));

        Assert.Equal(field, e.Field);
    }

    [Theory]
    [InlineData("flop_units: 100,", "flop_units: lots,", "ladder[0].limits.24h.flop_units")]
    [InlineData("flop_units: 100,", "flop_units: 1.5,", "ladder[0].limits.24h.flop_units")]
    [InlineData("flop_units: 100,", "flop_units: 99999999999999999999,", "ladder[0].limits.24h.flop_units")]
    [InlineData("length_seconds: 86400", "length_seconds: [1]", "windows[0].length_seconds")]
    [InlineData("requirement: stated_purpose", "requirement: STATED_PURPOSE", "ladder[1].requirement")]
    [InlineData("requirement: stated_purpose", "requirement: passport", "ladder[1].requirement")]
    [InlineData("requirement: none", "requirement: ~", "ladder[0].requirement")]
    [InlineData("- id: 24h", "- idx: 24h", "windows[0].idx")]
    [InlineData("    display_name: Anonymous\n", "", "ladder[0].display_name")]
    public void Load_OfAWrongValue_IsRefusedNamingTheField(string from, string to, string field)
    {
        var text = MinimalYaml.Replace(from, to);
        Assert.NotEqual(MinimalYaml, text);

        var e = Assert.Throws<PolicyValidationException>(() => PolicyLoader.Load(text));

        Assert.Equal(field, e.Field);
        Assert.Contains(field, e.Message);
    }

    [Theory]
    [InlineData("windows")]
    [InlineData("ladder")]
    public void Load_WithoutARequiredSection_IsRefusedNamingIt(string section)
    {
        var text = section == "windows"
            ? MinimalYaml[MinimalYaml.IndexOf("ladder:", StringComparison.Ordinal)..]
            : MinimalYaml[..MinimalYaml.IndexOf("ladder:", StringComparison.Ordinal)];

        var e = Assert.Throws<PolicyValidationException>(() => PolicyLoader.Load(text));

        Assert.Equal(section, e.Field);
    }

    [Fact]
    public void Load_OfAnEmptyLimitsEntry_MeansUnlimitedInThatWindow()
    {
        var document = PolicyLoader.Load(MinimalYaml.Replace("lifetime: { flop_units: 2000 }", "lifetime: {}"));

        Assert.Null(document.Ladder[1].LimitFor("lifetime", Metric.FlopUnits));
    }
}
