using Oversight.Policy.Decisions;
using Oversight.Policy.Documents;

namespace Oversight.Policy.Tests;

/// <summary>Small policies and snapshots for tests, built in code.</summary>
internal static class TestPolicies
{
    public const string Day = "24h";
    public const string Month = "30d";
    public const string Lifetime = "lifetime";

    /// <summary>A small valid YAML policy that tests edit with string replacements.</summary>
    public const string MinimalYaml = """
        windows:
          - id: 24h
            length_seconds: 86400
            bucket_seconds: 3600
          - id: lifetime
        ladder:
          - id: anonymous
            display_name: Anonymous
            requirement: none
            limits:
              24h: { flop_units: 100, gpu_seconds: 10 }
              lifetime: { flop_units: 1000 }
          - id: purpose
            display_name: Stated purpose
            requirement: stated_purpose
            limits:
              24h: { flop_units: 200, gpu_seconds: 20 }
              lifetime: { flop_units: 2000 }
        """;

    public static EffectivePolicy Default => DefaultPolicy.Document.Resolve(null);

    public static TierDefinition Tier(string id, RequirementKind requirement, params (string Window, long? Flop, long? Gpu)[] limits) =>
        new(id, id, requirement, new ValueMap<WindowLimits>(limits.Select(l =>
            new KeyValuePair<string, WindowLimits>(l.Window, new WindowLimits(l.Flop, l.Gpu)))));

    /// <summary>A snapshot with a zero for every figure the rule needs, then the given figures.</summary>
    public static UsageSnapshot Snapshot(EffectivePolicy policy, AccountStanding account, params (SubjectKind Subject, string Window, Metric Metric, long Usage, long Held)[] figures)
    {
        var snapshot = VerdictRule.RequiredFigures(policy, account)
            .Aggregate(UsageSnapshot.Empty, (s, key) => s.With(key, new UsageFigures(0, 0)));
        return figures.Aggregate(snapshot, (s, f) => s.With(f.Subject, f.Window, f.Metric, f.Usage, f.Held));
    }
}
