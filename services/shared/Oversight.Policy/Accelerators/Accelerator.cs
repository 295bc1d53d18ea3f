namespace Oversight.Policy.Accelerators;

/// <summary>One accelerator model and its peak dense throughput per precision class.</summary>
/// <param name="Model">Model id, e.g. "H100-SXM"; looked up case-insensitively.</param>
/// <param name="PeakTflops">Peak dense TFLOP/s (TOPS for INT8) for the precisions the model has a figure for.</param>
/// <param name="Source">Where the figures come from.</param>
public sealed record Accelerator(string Model, IReadOnlyDictionary<PrecisionClass, decimal> PeakTflops, string Source)
{
    /// <summary>The figure for exactly this precision, if the catalogue has one.</summary>
    public bool TryGetPeak(PrecisionClass precision, out decimal tflops) => PeakTflops.TryGetValue(precision, out tflops);

    /// <summary>
    /// The figure for this precision, or the model's highest figure when it has none for it: an
    /// upper bound, so a plausibility check never refuses honest usage for want of data.
    /// </summary>
    public decimal PlausibilityPeak(PrecisionClass precision) =>
        TryGetPeak(precision, out var tflops) ? tflops : PeakTflops.Values.Max();
}

/// <summary>A model the catalogue does not list.</summary>
public sealed class UnknownAcceleratorException(string model)
    : KeyNotFoundException($"accelerator model '{model}' is not in the catalogue; add it to the operator's catalogue file")
{
    public string Model { get; } = model;
}

/// <summary>An accelerator catalogue text was refused. <see cref="Field"/> is the offending field's path.</summary>
public sealed class CatalogueValidationException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}
