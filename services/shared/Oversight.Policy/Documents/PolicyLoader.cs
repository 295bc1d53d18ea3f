using System.Globalization;
using Oversight.Policy.Yaml;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using static Oversight.Policy.Documents.PolicyKeys;

namespace Oversight.Policy.Documents;

/// <summary>
/// Reads and writes policy documents: YAML or JSON (JSON is YAML), snake_case keys. Loading
/// refuses unknown keys and invalid documents with a <see cref="PolicyValidationException"/>
/// that names the field.
/// </summary>
public static class PolicyLoader
{
    /// <exception cref="PolicyValidationException">The text is not a valid policy document.</exception>
    public static PolicyDocument Load(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var reader = new YamlReader((field, message) => new PolicyValidationException(field, message));
        var root = reader.Map(reader.ParseSingleDocument(text, "the policy document"), "");
        reader.RefuseUnknownKeys(root, "", DocumentKeys);

        // The top level is read like an override, then the fields it leaves out take their defaults.
        var top = ReadFields(reader, root, "");
        var document = new PolicyDocument
        {
            Windows = top.Windows ?? throw reader.Fail(Windows, $"'{Windows}' is required"),
            Ladder = top.Ladder ?? throw reader.Fail(Ladder, $"'{Ladder}' is required"),
            NearLimitFraction = top.NearLimitFraction ?? PolicyDefaults.NearLimitFraction,
            Utilisation = top.Utilisation ?? PolicyDefaults.Utilisation,
            SharedTierIds = top.SharedTierIds,
            FailMode = top.FailMode ?? PolicyDefaults.FailMode,
            HoldTtlSeconds = top.HoldTtlSeconds ?? PolicyDefaults.HoldTtlSeconds,
            CountedMarkRetentionSeconds = top.CountedMarkRetentionSeconds ?? PolicyDefaults.CountedMarkRetentionSeconds,
            Overrides = ReadOverrides(reader, root),
        };
        PolicyValidator.Validate(document);
        return document;
    }

    /// <summary>Writes the document as YAML that <see cref="Load"/> reads back to an equal document.</summary>
    public static string ToYaml(PolicyDocument document)
    {
        var root = WriteFields(new PolicyOverride
        {
            Windows = document.Windows,
            Ladder = document.Ladder,
            NearLimitFraction = document.NearLimitFraction,
            Utilisation = document.Utilisation,
            SharedTierIds = document.SharedTierIds,
            FailMode = document.FailMode,
            HoldTtlSeconds = document.HoldTtlSeconds,
            CountedMarkRetentionSeconds = document.CountedMarkRetentionSeconds,
        });
        if (document.Overrides.Count > 0)
        {
            root.Add(Overrides, new YamlMappingNode(document.Overrides.Select(o =>
                new KeyValuePair<YamlNode, YamlNode>(Text(o.Key), WriteFields(o.Value)))));
        }
        var writer = new StringWriter(CultureInfo.InvariantCulture);
        new YamlStream(new YamlDocument(root)).Save(writer, assignAnchors: false);
        // YamlDotNet closes the document with an explicit "..." end marker; one document needs none.
        var text = writer.ToString().TrimEnd();
        return (text.EndsWith("...", StringComparison.Ordinal) ? text[..^3].TrimEnd() : text) + "\n";
    }

    private static ValueMap<PolicyOverride> ReadOverrides(YamlReader reader, YamlMappingNode root)
    {
        if (YamlReader.Get(root, Overrides) is not { } node)
        {
            return ValueMap<PolicyOverride>.Empty;
        }
        var overrides = new List<KeyValuePair<string, PolicyOverride>>();
        foreach (var (marketplace, value) in reader.Entries(reader.Map(node, Overrides), Overrides))
        {
            var path = YamlPath.Child(Overrides, marketplace);
            var map = reader.Map(value, path);
            reader.RefuseUnknownKeys(map, path, OverrideKeys);
            overrides.Add(new(marketplace, ReadFields(reader, map, path)));
        }
        return new ValueMap<PolicyOverride>(overrides);
    }

    private static PolicyOverride ReadFields(YamlReader reader, YamlMappingNode map, string path)
    {
        T? Read<T>(string key, Func<YamlNode, string, T> read) where T : class =>
            YamlReader.Get(map, key) is { } node ? read(node, YamlPath.Child(path, key)) : null;
        T? ReadValue<T>(string key, Func<YamlNode, string, T> read) where T : struct =>
            YamlReader.Get(map, key) is { } node ? read(node, YamlPath.Child(path, key)) : null;

        return new PolicyOverride
        {
            Windows = Read(Windows, (n, p) => ReadList(reader, n, p, ReadWindow)),
            Ladder = Read(Ladder, (n, p) => ReadList(reader, n, p, ReadTier)),
            NearLimitFraction = ReadValue(NearLimitFraction, reader.Decimal),
            Utilisation = ReadValue(Utilisation, reader.Decimal),
            SharedTierIds = Read(SharedTiers, (n, p) => ReadList(reader, n, p, (r, item, itemPath) => r.String(item, itemPath))),
            FailMode = ReadValue(FailModeKey, (n, p) => ReadName(reader, n, p, FailModes)),
            HoldTtlSeconds = ReadValue(HoldTtlSeconds, reader.Long),
            CountedMarkRetentionSeconds = ReadValue(CountedMarkRetentionSeconds, reader.Long),
        };
    }

    private static ValueList<T> ReadList<T>(YamlReader reader, YamlNode node, string path, Func<YamlReader, YamlNode, string, T> readItem) =>
        new(reader.Sequence(node, path).Children.Select((item, i) => readItem(reader, item, YamlPath.Index(path, i))));

    private static WindowDefinition ReadWindow(YamlReader reader, YamlNode node, string path)
    {
        var map = reader.Map(node, path);
        reader.RefuseUnknownKeys(map, path, WindowKeys);
        return new WindowDefinition(
            RequiredString(reader, map, path, Id),
            YamlReader.Get(map, LengthSeconds) is { } length ? reader.Long(length, YamlPath.Child(path, LengthSeconds)) : null,
            YamlReader.Get(map, BucketSeconds) is { } bucket ? reader.Long(bucket, YamlPath.Child(path, BucketSeconds)) : null);
    }

    private static TierDefinition ReadTier(YamlReader reader, YamlNode node, string path)
    {
        var map = reader.Map(node, path);
        reader.RefuseUnknownKeys(map, path, TierKeys);
        var requirementPath = YamlPath.Child(path, Requirement);
        var requirement = YamlReader.Get(map, Requirement) is { } r
            ? ReadName(reader, r, requirementPath, Requirements)
            : throw reader.Fail(requirementPath, $"'{requirementPath}' is required");
        var limitsPath = YamlPath.Child(path, Limits);
        var limits = YamlReader.Get(map, Limits) is { } l
            ? reader.Entries(reader.Map(l, limitsPath), limitsPath).Select(e =>
                new KeyValuePair<string, WindowLimits>(e.Key, ReadWindowLimits(reader, e.Value, YamlPath.Child(limitsPath, e.Key))))
            : [];
        return new TierDefinition(
            RequiredString(reader, map, path, Id),
            RequiredString(reader, map, path, DisplayName),
            requirement,
            new ValueMap<WindowLimits>(limits));
    }

    private static WindowLimits ReadWindowLimits(YamlReader reader, YamlNode node, string path)
    {
        // "lifetime: {}" or "lifetime: null" both mean: no limit in that window.
        if (YamlReader.IsNull(node))
        {
            return new WindowLimits();
        }
        var map = reader.Map(node, path);
        reader.RefuseUnknownKeys(map, path, LimitKeys);
        long? Read(string key) => YamlReader.Get(map, key) is { } n ? reader.Long(n, YamlPath.Child(path, key)) : null;
        return new WindowLimits(Read(FlopUnits), Read(GpuSeconds));
    }

    private static T ReadName<T>(YamlReader reader, YamlNode node, string path, IReadOnlyDictionary<string, T> names)
    {
        var text = reader.String(node, path);
        return names.TryGetValue(text, out var value)
            ? value
            : throw reader.Fail(path, $"'{path}' must be one of: {string.Join(", ", names.Keys)}; not '{text}'");
    }

    private static string RequiredString(YamlReader reader, YamlMappingNode map, string path, string key)
    {
        var field = YamlPath.Child(path, key);
        return YamlReader.Get(map, key) is { } node ? reader.String(node, field) : throw reader.Fail(field, $"'{field}' is required");
    }

    private static YamlMappingNode WriteFields(PolicyOverride o)
    {
        var map = new YamlMappingNode();
        if (o.Windows is { } windows)
        {
            map.Add(Windows, new YamlSequenceNode(windows.Select(WriteWindow)));
        }
        if (o.Ladder is { } ladder)
        {
            map.Add(Ladder, new YamlSequenceNode(ladder.Select(WriteTier)));
        }
        AddIfSet(map, NearLimitFraction, o.NearLimitFraction);
        AddIfSet(map, Utilisation, o.Utilisation);
        if (o.SharedTierIds is { } shared)
        {
            map.Add(SharedTiers, new YamlSequenceNode(shared.Select(Text)));
        }
        if (o.FailMode is { } failMode)
        {
            map.Add(FailModeKey, Of(failMode));
        }
        AddIfSet(map, HoldTtlSeconds, o.HoldTtlSeconds);
        AddIfSet(map, CountedMarkRetentionSeconds, o.CountedMarkRetentionSeconds);
        return map;
    }

    private static YamlMappingNode WriteWindow(WindowDefinition w)
    {
        var map = new YamlMappingNode { { Id, Text(w.Id) } };
        AddIfSet(map, LengthSeconds, w.LengthSeconds);
        AddIfSet(map, BucketSeconds, w.BucketSeconds);
        return map;
    }

    private static YamlMappingNode WriteTier(TierDefinition t)
    {
        var limits = new YamlMappingNode();
        foreach (var (windowId, windowLimits) in t.Limits)
        {
            var entry = new YamlMappingNode();
            AddIfSet(entry, FlopUnits, windowLimits.FlopUnits);
            AddIfSet(entry, GpuSeconds, windowLimits.GpuSeconds);
            limits.Add(Text(windowId), entry);
        }
        return new YamlMappingNode
        {
            { Id, Text(t.Id) },
            { DisplayName, Text(t.DisplayName) },
            { Requirement, Of(t.Requirement) },
            { Limits, limits },
        };
    }

    private static void AddIfSet<T>(YamlMappingNode map, string key, T? value) where T : struct, IFormattable
    {
        if (value is { } v)
        {
            map.Add(key, new YamlScalarNode(v.ToString(null, CultureInfo.InvariantCulture)));
        }
    }

    // Quote text that would otherwise read back as null (a display name "null", say).
    private static YamlScalarNode Text(string value)
    {
        var node = new YamlScalarNode(value);
        if (YamlReader.IsNull(node))
        {
            node.Style = ScalarStyle.DoubleQuoted;
        }
        return node;
    }
}
