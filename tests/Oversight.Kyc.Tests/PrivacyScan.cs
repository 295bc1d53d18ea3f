using System.Text;

namespace Oversight.Kyc.Tests;

/// <summary>
/// Known sample personal data and the forms it could leak in: as written (any case), base64
/// (standard and URL-safe, at each of the three byte alignments a value can have inside a larger
/// buffer) and hex (any case). <see cref="Find"/> lists every place a form occurs.
/// </summary>
public sealed class PrivacyScan
{
    private readonly List<(string Value, string Form, string Needle, StringComparison Comparison)> _needles = [];

    public PrivacyScan(params string[] values)
    {
        foreach (var value in values)
        {
            Assert.True(value.Length >= 8, $"sample value '{value}' is too short to search for without false positives");
            var bytes = Encoding.UTF8.GetBytes(value);
            _needles.Add((value, "plain", value, StringComparison.OrdinalIgnoreCase));
            _needles.Add((value, "hex", Convert.ToHexString(bytes), StringComparison.OrdinalIgnoreCase));
            foreach (var (form, core) in Base64Cores(bytes))
            {
                _needles.Add((value, form, core, StringComparison.Ordinal));
            }
        }
    }

    public IReadOnlyList<string> Values => _needles.Select(n => n.Value).Distinct().ToList();

    /// <summary>"where: value as form" for every occurrence of any form of any value.</summary>
    public IReadOnlyList<string> Find(string where, IEnumerable<string> texts)
    {
        var found = new List<string>();
        foreach (var text in texts)
        {
            foreach (var (value, form, needle, comparison) in _needles)
            {
                if (text.Contains(needle, comparison))
                {
                    found.Add($"{where}: '{value}' as {form} in: {Excerpt(text, needle, comparison)}");
                }
            }
        }

        return found;
    }

    /// <summary>
    /// The base64 characters that depend only on the value's bytes, for each alignment (0, 1 or 2
    /// bytes before it): whatever surrounds the value in an encoded buffer, one of these appears.
    /// </summary>
    private static IEnumerable<(string Form, string Core)> Base64Cores(byte[] value)
    {
        for (var offset = 0; offset < 3; offset++)
        {
            var buffer = new byte[offset + value.Length];
            value.CopyTo(buffer, offset);
            var encoded = Convert.ToBase64String(buffer);
            var start = offset == 0 ? 0 : 4;
            var end = buffer.Length / 3 * 4;
            if (end - start < 8)
            {
                continue;
            }

            var core = encoded[start..end];
            yield return ($"base64 (alignment {offset})", core);
            yield return ($"base64url (alignment {offset})", core.Replace('+', '-').Replace('/', '_'));
        }
    }

    private static string Excerpt(string text, string needle, StringComparison comparison)
    {
        var at = text.IndexOf(needle, comparison);
        var from = Math.Max(0, at - 80);
        return text.Substring(from, Math.Min(text.Length - from, needle.Length + 160));
    }
}
