namespace Oversight.Replay.Simulation;

/// <summary>Compares two replays verdict by verdict (the in-process and live modes must agree).</summary>
public static class VerdictComparison
{
    /// <summary>Sentences naming each position where the two runs differ (time, account, lease, verdict, required tier).</summary>
    public static IReadOnlyList<string> Differences(IReadOnlyList<VerdictEvent> expected, IReadOnlyList<VerdictEvent> actual)
    {
        var differences = new List<string>();
        for (var i = 0; i < Math.Max(expected.Count, actual.Count); i++)
        {
            var e = i < expected.Count ? expected[i] : (VerdictEvent?)null;
            var a = i < actual.Count ? actual[i] : (VerdictEvent?)null;
            if (e is not { } x || a is not { } y)
            {
                differences.Add($"#{i}: only one run has a verdict here ({e?.ToString() ?? a?.ToString()})");
                continue;
            }

            if (x.Time != y.Time || x.Pseudonym != y.Pseudonym || x.LeaseId != y.LeaseId || x.Verdict != y.Verdict
                || x.RequiredTierLevel != y.RequiredTierLevel || x.TierLevel != y.TierLevel || x.FlopUnits != y.FlopUnits)
            {
                differences.Add($"#{i}: {x} vs {y}");
            }
        }

        return differences;
    }
}
