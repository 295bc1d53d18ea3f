namespace Oversight.Policy.Yaml;

/// <summary>Field paths as errors print them: <c>ladder[1].limits.30d.flop_units</c>.</summary>
internal static class YamlPath
{
    public static string Child(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    public static string Index(string path, int index) => $"{path}[{index}]";
}
