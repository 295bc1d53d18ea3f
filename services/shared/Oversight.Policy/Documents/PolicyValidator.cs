using System.Text.RegularExpressions;
using Oversight.Policy.Counters;
using Oversight.Policy.Yaml;
using static Oversight.Policy.Documents.PolicyKeys;

namespace Oversight.Policy.Documents;

/// <summary>
/// Refuses an invalid policy with a <see cref="PolicyValidationException"/> naming the first
/// offending field. The loader runs it; so does <see cref="PolicyDocument.Resolve"/>.
/// </summary>
public static partial class PolicyValidator
{
    /// <summary>Validates the document and, for every marketplace override, the policy it resolves to.</summary>
    public static void Validate(PolicyDocument document)
    {
        ValidateResolved(document);
        foreach (var (marketplace, o) in document.Overrides)
        {
            var prefix = YamlPath.Child(Overrides, marketplace);
            if (string.IsNullOrWhiteSpace(marketplace))
            {
                throw new PolicyValidationException(prefix, $"'{prefix}': an override's marketplace id must not be blank");
            }
            // Fields the override leaves out are inherited; a clash (a replaced window list that the
            // inherited ladder still refers to) is reported at the path it would have in the override.
            new Checker(prefix, $"in the policy resolved for marketplace '{marketplace}': ").Check(document.ApplyOverride(o));
        }
    }

    /// <summary>Validates the top-level fields, ignoring overrides.</summary>
    internal static void ValidateResolved(PolicyDocument document) => new Checker("", "").Check(document);

    // Window and tier ids end up in Redis keys and messages: keep them to a safe alphabet.
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    private static partial Regex IdPattern();

    private sealed class Checker(string prefix, string context)
    {
        public void Check(PolicyDocument d)
        {
            CheckWindows(d.Windows);
            CheckLadder(d.Ladder, d.Windows);
            Require(d.NearLimitFraction is > 0m and < 1m, NearLimitFraction, $"must be between 0 and 1 (exclusive), not {d.NearLimitFraction}");
            Require(d.Utilisation is > 0m and <= 1m, Utilisation, $"must be above 0 and at most 1, not {d.Utilisation}");
            CheckSharedTiers(d.SharedTierIds, d.Ladder);
            Require(Enum.IsDefined(d.FailMode), FailModeKey, $"must be one of: {string.Join(", ", FailModes.Keys)}");
            Require(d.HoldTtlSeconds > 0, HoldTtlSeconds, $"must be positive, not {d.HoldTtlSeconds}");
            Require(d.CountedMarkRetentionSeconds > 0, CountedMarkRetentionSeconds, $"must be positive, not {d.CountedMarkRetentionSeconds}");
        }

        private void CheckWindows(IReadOnlyList<WindowDefinition> windows)
        {
            Require(windows.Count > 0, Windows, "must list at least one window");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < windows.Count; i++)
            {
                var w = windows[i];
                var path = YamlPath.Index(Windows, i);
                CheckId(w.Id, YamlPath.Child(path, Id), seen, "window");
                if (w.LengthSeconds is not { } length)
                {
                    // A lifetime window never rolls, so buckets would mean nothing.
                    Require(w.BucketSeconds is null, YamlPath.Child(path, BucketSeconds), "must be left out for a lifetime window (no length_seconds)");
                    continue;
                }
                Require(length is > 0 and <= CounterWindow.MaxSeconds, YamlPath.Child(path, LengthSeconds), $"must be positive and at most {CounterWindow.MaxSeconds} (about 35,000 years; a window that never rolls is a lifetime window), not {length}");
                var bucketPath = YamlPath.Child(path, BucketSeconds);
                Require(w.BucketSeconds is not null, bucketPath, "is required for a rolling window");
                var bucket = w.BucketSeconds!.Value;
                Require(bucket is > 0 and <= CounterWindow.MaxSeconds, bucketPath, $"must be positive and at most {CounterWindow.MaxSeconds}, not {bucket}");
                // A rolling window is a whole number of buckets, so it starts and ends on bucket edges.
                Require(length % bucket == 0, bucketPath, $"must divide length_seconds ({length}) exactly, not {bucket}");
            }
        }

        private void CheckLadder(IReadOnlyList<TierDefinition> ladder, IReadOnlyList<WindowDefinition> windows)
        {
            Require(ladder.Count > 0, Ladder, "must list at least one tier");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var windowIds = windows.Select(w => w.Id).ToHashSet(StringComparer.Ordinal);
            for (var i = 0; i < ladder.Count; i++)
            {
                var tier = ladder[i];
                var path = YamlPath.Index(Ladder, i);
                CheckId(tier.Id, YamlPath.Child(path, Id), seen, "tier");
                Require(!string.IsNullOrWhiteSpace(tier.DisplayName), YamlPath.Child(path, DisplayName), "must not be blank");
                var requirementPath = YamlPath.Child(path, Requirement);
                Require(tier.Requirement is not RequirementKind.Unspecified && Enum.IsDefined(tier.Requirement), requirementPath,
                    $"must be one of: {string.Join(", ", Requirements.Keys)}");
                // Rung 0 is where every new account starts, so it can ask for nothing; a higher rung
                // that asks for nothing would be reachable without a step, i.e. the same rung.
                Require(i == 0 ? tier.Requirement == RequirementKind.None : tier.Requirement != RequirementKind.None, requirementPath,
                    i == 0 ? "of the first tier must be none: new accounts start there" : "must not be none above the first tier");
                CheckLimits(tier, path, windowIds, i == 0 ? null : ladder[i - 1]);
            }
        }

        private void CheckLimits(TierDefinition tier, string tierPath, HashSet<string> windowIds, TierDefinition? lower)
        {
            foreach (var (windowId, limits) in tier.Limits)
            {
                var windowPath = YamlPath.Child(YamlPath.Child(tierPath, Limits), windowId);
                Require(windowIds.Contains(windowId), windowPath, $"names no window of the policy; windows are: {string.Join(", ", windowIds)}");
                foreach (var metric in WindowLimits.Metrics)
                {
                    if (limits.For(metric) is not { } limit)
                    {
                        continue;
                    }
                    var path = YamlPath.Child(windowPath, Of(metric));
                    Require(limit >= 0, path, $"must not be negative, not {limit}");
                    // A higher rung must never allow less than the one below (no limit = infinite),
                    // or stepping up could turn an allowed request into a refused one.
                    if (lower is not null)
                    {
                        var lowerLimit = lower.LimitFor(windowId, metric);
                        Require(lowerLimit is not null && lowerLimit <= limit, path,
                            lowerLimit is null
                                ? $"is {limit}, but the tier below ('{lower.Id}') has no limit here; a higher tier must not allow less"
                                : $"is {limit}, below the tier below ('{lower.Id}', {lowerLimit}); a higher tier must not allow less");
                    }
                }
            }
        }

        private void CheckSharedTiers(IReadOnlyList<string>? shared, IReadOnlyList<TierDefinition> ladder)
        {
            if (shared is null)
            {
                return;
            }
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < shared.Count; i++)
            {
                var path = YamlPath.Index(SharedTiers, i);
                Require(ladder.Any(t => t.Id == shared[i]), path, $"names no tier of the ladder: '{shared[i]}'");
                Require(seen.Add(shared[i]), path, $"lists '{shared[i]}' twice");
            }
        }

        private void CheckId(string id, string path, HashSet<string> seen, string what)
        {
            Require(IdPattern().IsMatch(id ?? ""), path, $"'{id}' is not a valid {what} id (letters, digits, '_', '-', '.'; up to 64; starting with a letter or digit)");
            Require(seen.Add(id!), path, $"'{id}' is used by another {what}");
        }

        private void Require(bool condition, string relativePath, string message)
        {
            if (!condition)
            {
                var field = prefix.Length == 0 ? relativePath : YamlPath.Child(prefix, relativePath);
                throw new PolicyValidationException(field, $"{context}'{field}' {message}");
            }
        }
    }
}
