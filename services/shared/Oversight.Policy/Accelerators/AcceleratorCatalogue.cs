using System.Collections.Frozen;
using Oversight.Policy.Documents;
using Oversight.Policy.Yaml;
using YamlDotNet.RepresentationModel;

namespace Oversight.Policy.Accelerators;

/// <summary>
/// Peak dense FLOP/s per accelerator model and precision, as data: the embedded
/// <c>accelerators.yaml</c> (<see cref="Default"/>), which operators extend with
/// <see cref="WithAdditions(string)"/>. Model ids match ignoring case, and spaces or underscores
/// match hyphens ("h100 sxm" finds "H100-SXM").
/// </summary>
public sealed class AcceleratorCatalogue
{
    public const string ResourceName = "Oversight.Policy.accelerators.yaml";

    private static readonly Lazy<AcceleratorCatalogue> Embedded = new(() => Parse(EmbeddedText.Read(ResourceName)));

    private static readonly Dictionary<string, PrecisionClass> PrecisionKeys = new()
    {
        ["fp64"] = PrecisionClass.Fp64,
        ["fp32"] = PrecisionClass.Fp32,
        ["tf32"] = PrecisionClass.Tf32,
        ["bf16"] = PrecisionClass.Bf16,
        ["fp8"] = PrecisionClass.Fp8,
        ["int8"] = PrecisionClass.Int8,
    };

    private readonly FrozenDictionary<string, Accelerator> _byKey;

    /// <exception cref="ArgumentException">Two entries name the same model, or an entry is invalid.</exception>
    public AcceleratorCatalogue(IEnumerable<Accelerator> accelerators)
    {
        Accelerators = accelerators.ToArray();
        foreach (var a in Accelerators)
        {
            if (string.IsNullOrWhiteSpace(a.Model) || a.PeakTflops.Count == 0 || a.PeakTflops.Any(p => p.Value <= 0 || p.Key == PrecisionClass.Unspecified))
            {
                throw new ArgumentException($"accelerator '{a.Model}' needs a model id and at least one positive figure for a named precision", nameof(accelerators));
            }
        }
        var duplicate = Accelerators.GroupBy(a => Key(a.Model)).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"accelerator model '{duplicate.First().Model}' is listed more than once", nameof(accelerators));
        }
        _byKey = Accelerators.ToFrozenDictionary(a => Key(a.Model));
    }

    /// <summary>The catalogue shipped with the core.</summary>
    public static AcceleratorCatalogue Default => Embedded.Value;

    public IReadOnlyList<Accelerator> Accelerators { get; }

    public bool TryGet(string model, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out Accelerator accelerator) =>
        _byKey.TryGetValue(Key(model), out accelerator);

    /// <exception cref="UnknownAcceleratorException">The model is not listed.</exception>
    public Accelerator Get(string model) => TryGet(model, out var a) ? a : throw new UnknownAcceleratorException(model);

    /// <summary>The exact figure for the model and precision; false if either is missing.</summary>
    public bool TryGetPeak(string model, PrecisionClass precision, out decimal tflops)
    {
        tflops = 0;
        return TryGet(model, out var a) && a.TryGetPeak(precision, out tflops);
    }

    /// <summary>The figure for the precision, or the model's highest figure when it has none for it.</summary>
    /// <exception cref="UnknownAcceleratorException">The model is not listed.</exception>
    public decimal PlausibilityPeak(string model, PrecisionClass precision) => Get(model).PlausibilityPeak(precision);

    /// <summary>This catalogue plus the given entries; an entry for a listed model replaces it.</summary>
    public AcceleratorCatalogue WithAdditions(IEnumerable<Accelerator> additions)
    {
        var added = additions.ToArray();
        var replaced = added.Select(a => Key(a.Model)).ToHashSet();
        return new AcceleratorCatalogue(Accelerators.Where(a => !replaced.Contains(Key(a.Model))).Concat(added));
    }

    /// <summary>This catalogue plus the entries of a catalogue text (an operator's file).</summary>
    /// <exception cref="CatalogueValidationException">The text is not a valid catalogue.</exception>
    public AcceleratorCatalogue WithAdditions(string yaml) => WithAdditions(Parse(yaml).Accelerators);

    /// <summary>
    /// Reads a catalogue (YAML or JSON): <c>accelerators:</c>, a list of entries with
    /// <c>model</c>, <c>peak_tflops</c> (keys fp64, fp32, tf32, bf16, fp8, int8) and <c>source</c>.
    /// </summary>
    /// <exception cref="CatalogueValidationException">The text is not a valid catalogue; the field is named.</exception>
    public static AcceleratorCatalogue Parse(string yaml)
    {
        var reader = new YamlReader((field, message) => new CatalogueValidationException(field, message));
        var root = reader.Map(reader.ParseSingleDocument(yaml, "the accelerator catalogue"), "");
        reader.RefuseUnknownKeys(root, "", ["accelerators"]);
        var list = YamlReader.Get(root, "accelerators") is { } node
            ? reader.Sequence(node, "accelerators")
            : throw reader.Fail("accelerators", "'accelerators' is required");

        var entries = new List<Accelerator>();
        var seen = new HashSet<string>();
        foreach (var (item, i) in list.Children.Select((n, i) => (n, i)))
        {
            var path = YamlPath.Index("accelerators", i);
            var map = reader.Map(item, path);
            reader.RefuseUnknownKeys(map, path, ["model", "peak_tflops", "source"]);
            string Required(string key) => YamlReader.Get(map, key) is { } n
                ? reader.String(n, YamlPath.Child(path, key))
                : throw reader.Fail(YamlPath.Child(path, key), $"'{YamlPath.Child(path, key)}' is required");

            var model = Required("model").Trim();
            if (model.Length == 0 || !seen.Add(Key(model)))
            {
                throw reader.Fail(YamlPath.Child(path, "model"), $"'{YamlPath.Child(path, "model")}' must be a model id not listed before, not '{model}'");
            }
            entries.Add(new Accelerator(model, ReadPeaks(reader, map, YamlPath.Child(path, "peak_tflops")), Required("source")));
        }
        return new AcceleratorCatalogue(entries);
    }

    private static FrozenDictionary<PrecisionClass, decimal> ReadPeaks(YamlReader reader, YamlMappingNode map, string path)
    {
        var node = YamlReader.Get(map, "peak_tflops") ?? throw reader.Fail(path, $"'{path}' is required");
        var peaksMap = reader.Map(node, path);
        reader.RefuseUnknownKeys(peaksMap, path, PrecisionKeys.Keys);
        var peaks = new Dictionary<PrecisionClass, decimal>();
        foreach (var (key, value) in reader.Entries(peaksMap, path))
        {
            var field = YamlPath.Child(path, key);
            var tflops = reader.Decimal(value, field);
            peaks[PrecisionKeys[key]] = tflops > 0 ? tflops : throw reader.Fail(field, $"'{field}' must be positive, not {tflops}");
        }
        return peaks.Count > 0 ? peaks.ToFrozenDictionary() : throw reader.Fail(path, $"'{path}' must give at least one figure");
    }

    // "H100 SXM", "h100_sxm" and "H100-SXM" are the same model.
    /// <summary>A model id as the catalogue matches it: case, spaces and underscores do not matter.</summary>
    public static string Key(string model) => model.Trim().ToUpperInvariant().Replace(' ', '-').Replace('_', '-');
}
