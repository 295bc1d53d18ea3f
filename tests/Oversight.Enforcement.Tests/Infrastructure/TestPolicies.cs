using System.Globalization;
using System.Text;
using Oversight.Policy.Documents;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>Policy documents for tests: the default policy with per-marketplace overrides, as YAML.</summary>
public static class TestPolicies
{
    /// <summary>
    /// The default ladder's four tiers, limited only in the 24-hour FLOP window, with the given
    /// limits from the bottom rung up (KYC keeps its tier ids and levels).
    /// </summary>
    public static string Ladder(long anonymous, long statedPurpose = 1_000_000_000_000, long identity = 10_000_000_000_000, long organisation = 100_000_000_000_000)
    {
        string Tier(string id, string name, string requirement, long limit) => string.Create(CultureInfo.InvariantCulture, $"""
              - id: {id}
                display_name: {name}
                requirement: {requirement}
                limits:
                  24h: {"{"} flop_units: {limit} {"}"}

            """);
        return "ladder:\n" + Tier("anonymous", "Anonymous", "none", anonymous)
            + Tier("stated_purpose", "Stated purpose", "stated_purpose", statedPurpose)
            + Tier("identity_verified", "Identity verified", "identity", identity)
            + Tier("organisation_verified", "Organisation verified", "organisation", organisation);
    }

    /// <summary>The default policy plus one override per marketplace (each override body is YAML at column 0).</summary>
    public static string DefaultWith(IReadOnlyDictionary<string, string> overrides)
    {
        var text = new StringBuilder(DefaultPolicy.Yaml.TrimEnd()).Append("\n\noverrides:\n");
        foreach (var (marketplace, body) in overrides)
        {
            text.Append("  ").Append(marketplace).Append(":\n");
            foreach (var line in body.Replace("\r\n", "\n").Split('\n'))
            {
                text.Append("    ").Append(line).Append('\n');
            }
        }

        return text.ToString();
    }

    public static string DefaultWith(string marketplace, string overrideBody) =>
        DefaultWith(new Dictionary<string, string> { [marketplace] = overrideBody });
}
