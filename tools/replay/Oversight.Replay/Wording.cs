using System.Globalization;

namespace Oversight.Replay;

/// <summary>Counts as messages and reports print them: "1 row", "2 rows", "1,234 rows".</summary>
public static class Wording
{
    /// <summary>The count (thousands separated) and the noun, singular for exactly one.</summary>
    /// <param name="plural">The plural when it is not <paramref name="singular"/> + "s" (e.g. "policies").</param>
    public static string Count(long count, string singular, string? plural = null) =>
        count.ToString("N0", CultureInfo.InvariantCulture) + " " + (count == 1 ? singular : plural ?? singular + "s");
}
