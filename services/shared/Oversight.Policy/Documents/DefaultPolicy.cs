namespace Oversight.Policy.Documents;

/// <summary>
/// The default policy: the embedded <c>default-policy.yaml</c> is the single source of its numbers
/// (each with its source), so operators copy the very file the services run with.
/// </summary>
public static class DefaultPolicy
{
    public const string ResourceName = "Oversight.Policy.default-policy.yaml";

    private static readonly Lazy<string> Text = new(() => EmbeddedText.Read(ResourceName));
    private static readonly Lazy<PolicyDocument> Parsed = new(() => PolicyLoader.Load(Text.Value));

    /// <summary>The default policy document (anonymous, stated purpose, identity verified, organisation verified).</summary>
    public static PolicyDocument Document => Parsed.Value;

    /// <summary>The YAML text, comments included, for an operator to start from.</summary>
    public static string Yaml => Text.Value;
}

/// <summary>Reads text shipped inside this assembly (part of the code, not outside input).</summary>
internal static class EmbeddedText
{
    public static string Read(string resourceName)
    {
        using var stream = typeof(EmbeddedText).Assembly.GetManifestResourceStream(resourceName)
            ?? throw new InvalidOperationException($"embedded resource '{resourceName}' is missing from {typeof(EmbeddedText).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
