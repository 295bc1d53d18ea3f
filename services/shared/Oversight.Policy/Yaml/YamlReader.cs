using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Oversight.Policy.Yaml;

/// <summary>
/// Reads a YAML (or JSON, which YAML parses) document node by node, so every error names the
/// field path it is about (for example <c>ladder[1].limits.30d.flop_units</c>). The caller says
/// which exception an error becomes.
/// </summary>
internal sealed class YamlReader(Func<string, string, Exception> fail)
{
    private static readonly YamlScalarNode NullNode = new("null");

    public Exception Fail(string field, string message) => fail(field, message);

    /// <summary>The root node of the only document in the text.</summary>
    public YamlNode ParseSingleDocument(string text, string what)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            // Duplicate keys and syntax errors both land here, with the place they were found.
            throw fail("", $"{what} is not valid YAML or JSON (line {e.Start.Line}, column {e.Start.Column}): {Innermost(e).Message}");
        }
        return stream.Documents.Count switch
        {
            0 => throw fail("", $"{what} is empty"),
            1 when IsNull(stream.Documents[0].RootNode) => throw fail("", $"{what} is empty"),
            1 => stream.Documents[0].RootNode,
            _ => throw fail("", $"{what} must be a single document, found {stream.Documents.Count}"),
        };
    }

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    public YamlMappingNode Map(YamlNode node, string path) =>
        node as YamlMappingNode ?? throw fail(path, $"{Describe(path)} must be a mapping (key: value pairs)");

    public YamlSequenceNode Sequence(YamlNode node, string path) =>
        node as YamlSequenceNode ?? throw fail(path, $"{Describe(path)} must be a list");

    public string String(YamlNode node, string path) =>
        node is YamlScalarNode { Value: { } value } && !IsNull(node)
            ? value
            : throw fail(path, $"{Describe(path)} must be a text value");

    public long Long(YamlNode node, string path)
    {
        var text = String(node, path);
        return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw fail(path, $"{Describe(path)} must be a whole number within int64, not '{text}'");
    }

    public decimal Decimal(YamlNode node, string path)
    {
        var text = String(node, path);
        return decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw fail(path, $"{Describe(path)} must be a number, not '{text}'");
    }

    /// <summary>The value under a key; null when the key is absent or its value is null.</summary>
    public static YamlNode? Get(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var node) && !IsNull(node) ? node : null;

    /// <summary>The entries of a mapping with their keys as text, in document order.</summary>
    public IEnumerable<(string Key, YamlNode Value)> Entries(YamlMappingNode map, string path)
    {
        foreach (var (key, value) in map.Children)
        {
            yield return (key is YamlScalarNode { Value: { } k } ? k : throw fail(path, $"{Describe(path)} has a key that is not text"), value ?? NullNode);
        }
    }

    /// <summary>Refuses a mapping that has a key outside <paramref name="known"/>, naming it.</summary>
    public void RefuseUnknownKeys(YamlMappingNode map, string path, IReadOnlyCollection<string> known)
    {
        foreach (var (key, _) in Entries(map, path))
        {
            if (!known.Contains(key))
            {
                throw fail(YamlPath.Child(path, key), $"unknown key '{YamlPath.Child(path, key)}'; expected one of: {string.Join(", ", known)}");
            }
        }
    }

    private static string Describe(string path) => path.Length == 0 ? "the document" : $"'{path}'";

    private static Exception Innermost(Exception e) => e.InnerException is null ? e : Innermost(e.InnerException);
}
