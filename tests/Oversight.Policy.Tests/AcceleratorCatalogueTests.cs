using Oversight.Policy.Accelerators;

namespace Oversight.Policy.Tests;

public class AcceleratorCatalogueTests
{
    private static readonly AcceleratorCatalogue Catalogue = AcceleratorCatalogue.Default;

    // Figures from the domain reference's table (TFLOP/s, dense).
    [Theory]
    [InlineData("P100-SXM2", PrecisionClass.Bf16, "21.2")]
    [InlineData("P100-SXM2", PrecisionClass.Fp32, "10.6")]
    [InlineData("P40", PrecisionClass.Fp32, "11.8")]
    [InlineData("P40", PrecisionClass.Int8, "47")]
    [InlineData("V100-SXM2", PrecisionClass.Bf16, "125")]
    [InlineData("T4", PrecisionClass.Fp32, "8.1")]
    [InlineData("A100", PrecisionClass.Bf16, "312")]
    [InlineData("A100", PrecisionClass.Tf32, "156")]
    [InlineData("H100-SXM", PrecisionClass.Bf16, "989")]
    [InlineData("H100-SXM", PrecisionClass.Fp8, "1979")]
    [InlineData("H100-SXM", PrecisionClass.Tf32, "495")]
    [InlineData("H100-PCIe", PrecisionClass.Bf16, "756")]
    [InlineData("H200-SXM", PrecisionClass.Bf16, "989")]
    [InlineData("B200", PrecisionClass.Bf16, "2250")]
    [InlineData("B200", PrecisionClass.Fp8, "4500")]
    [InlineData("L40S", PrecisionClass.Fp32, "91.6")]
    [InlineData("RTX-4090", PrecisionClass.Bf16, "165")]
    [InlineData("RTX-3090", PrecisionClass.Fp32, "35.6")]
    [InlineData("MI300X", PrecisionClass.Bf16, "1307")]
    [InlineData("MI300X", PrecisionClass.Fp8, "2615")]
    public void TryGetPeak_GivesTheReferenceFigure(string model, PrecisionClass precision, string tflops)
    {
        Assert.True(Catalogue.TryGetPeak(model, precision, out var peak));
        Assert.Equal(decimal.Parse(tflops, System.Globalization.CultureInfo.InvariantCulture), peak);
    }

    [Fact]
    public void Default_ListsEveryModelOfTheReferenceTable()
    {
        Assert.Equal(
            ["P100-SXM2", "P40", "V100-SXM2", "T4", "A100", "H100-SXM", "H100-PCIe", "H200-SXM", "B200", "L40S", "RTX-4090", "RTX-3090", "MI300X"],
            Catalogue.Accelerators.Select(a => a.Model));
        Assert.All(Catalogue.Accelerators, a => Assert.False(string.IsNullOrWhiteSpace(a.Source)));
    }

    [Theory]
    [InlineData("h100-sxm")]
    [InlineData("H100 SXM")]
    [InlineData(" h100_sxm ")]
    public void Lookup_IgnoresCaseAndSeparators(string model) =>
        Assert.Equal("H100-SXM", Catalogue.Get(model).Model);

    [Fact]
    public void TryGetPeak_ForAPrecisionWithoutAFigure_IsFalse()
    {
        Assert.False(Catalogue.TryGetPeak("P40", PrecisionClass.Bf16, out _));
        Assert.False(Catalogue.TryGetPeak("H100-SXM", PrecisionClass.Fp64, out _));
    }

    [Fact]
    public void PlausibilityPeak_ForAPrecisionWithoutAFigure_UsesTheModelsHighestFigure()
    {
        Assert.Equal(47m, Catalogue.PlausibilityPeak("P40", PrecisionClass.Bf16));
        Assert.Equal(1979m, Catalogue.PlausibilityPeak("H100-SXM", PrecisionClass.Fp64));
        Assert.Equal(989m, Catalogue.PlausibilityPeak("H100-SXM", PrecisionClass.Bf16));
    }

    [Fact]
    public void UnknownModel_IsRefusedClearly()
    {
        Assert.False(Catalogue.TryGet("Z9000", out _));
        Assert.False(Catalogue.TryGetPeak("Z9000", PrecisionClass.Bf16, out _));
        var e = Assert.Throws<UnknownAcceleratorException>(() => Catalogue.PlausibilityPeak("Z9000", PrecisionClass.Bf16));
        Assert.Equal("Z9000", e.Model);
        Assert.Contains("Z9000", e.Message);
    }

    [Fact]
    public void WithAdditions_AddsNewModelsAndReplacesListedOnes()
    {
        var extended = Catalogue.WithAdditions("""
            accelerators:
              - model: Z9000
                peak_tflops: { bf16: 5000, fp8: 10000 }
                source: operator's own measurement
              - model: h100 pcie
                peak_tflops: { fp32: 51, tf32: 378, bf16: 756, fp8: 1513 }
                source: NVIDIA H100 PCIe datasheet, sparse figures halved
            """);

        Assert.Equal(10000m, extended.PlausibilityPeak("Z9000", PrecisionClass.Fp8));
        Assert.True(extended.TryGetPeak("H100-PCIe", PrecisionClass.Fp8, out var fp8));
        Assert.Equal(1513m, fp8);
        Assert.Equal(Catalogue.Accelerators.Count + 1, extended.Accelerators.Count);
        Assert.False(Catalogue.TryGet("Z9000", out _));
    }

    [Theory]
    [InlineData("things: []", "things")]
    [InlineData("accelerators:\n  - model: X\n    peak_tflops: { fp16: 1 }\n    source: s", "accelerators[0].peak_tflops.fp16")]
    [InlineData("accelerators:\n  - model: X\n    peak_tflops: { bf16: 0 }\n    source: s", "accelerators[0].peak_tflops.bf16")]
    [InlineData("accelerators:\n  - model: X\n    peak_tflops: {}\n    source: s", "accelerators[0].peak_tflops")]
    [InlineData("accelerators:\n  - model: X\n    peak_tflops: { bf16: 1 }", "accelerators[0].source")]
    [InlineData("accelerators:\n  - model: X\n    peak_tflops: { bf16: 1 }\n    source: s\n  - model: x\n    peak_tflops: { bf16: 1 }\n    source: s", "accelerators[1].model")]
    public void Parse_OfABadCatalogue_NamesTheField(string yaml, string field)
    {
        var e = Assert.Throws<CatalogueValidationException>(() => AcceleratorCatalogue.Parse(yaml));

        Assert.Equal(field, e.Field);
    }

    [Fact]
    public void Constructor_RefusesTheSameModelTwice() =>
        Assert.Throws<ArgumentException>(() => new AcceleratorCatalogue(
        [
            new Accelerator("A", new Dictionary<PrecisionClass, decimal> { [PrecisionClass.Fp32] = 1 }, "s"),
            new Accelerator("a", new Dictionary<PrecisionClass, decimal> { [PrecisionClass.Fp32] = 2 }, "s"),
        ]));
}
