using System.Numerics;
using Oversight.Policy.Accelerators;

namespace Oversight.Policy.Tests;

public class FlopEstimatorTests
{
    private static readonly FlopEstimator Estimator = new(AcceleratorCatalogue.Default);

    [Fact]
    public void EstimateUnits_ForOneH100HourAt40Percent_IsAbout1Point4E18Flop()
    {
        // ceil(989 x 3600 x 0.4) = 1,424,160 units = 1.42416e18 FLOP (the reference's rough scale).
        var units = Estimator.EstimateUnits("H100-SXM", PrecisionClass.Bf16, count: 1, durationSeconds: 3600, utilisation: 0.4m);

        Assert.Equal(1_424_160, units);
    }

    [Theory]
    [InlineData("P100-SXM2", PrecisionClass.Bf16, 1, 1, "0.4", 9)] // 21.2 x 0.4 = 8.48 -> 9
    [InlineData("T4", PrecisionClass.Fp32, 3, 7, "0.3", 52)] // 3 x 8.1 x 7 x 0.3 = 51.03 -> 52
    [InlineData("A100", PrecisionClass.Bf16, 8, 86400, "0.4", 86_261_760)] // 8 x 312 x 86400 x 0.4, exact
    [InlineData("L40S", PrecisionClass.Fp32, 1, 10, "1", 916)]
    [InlineData("A100", PrecisionClass.Bf16, 0, 3600, "0.4", 0)]
    [InlineData("A100", PrecisionClass.Bf16, 4, 0, "0.4", 0)]
    public void EstimateUnits_IsExactAndRoundsUp(string model, PrecisionClass precision, long count, long seconds, string utilisation, long expected)
    {
        var u = decimal.Parse(utilisation, System.Globalization.CultureInfo.InvariantCulture);

        Assert.Equal(expected, Estimator.EstimateUnits(model, precision, count, seconds, u));
    }

    [Fact]
    public void EstimateUnits_DoesNotLoseTheLastUnitToDecimalRounding()
    {
        // Exactly 8e18 + 4e-10 units: decimal arithmetic would round the tail away (29 digits) and
        // give 8e18; rounding up the exact value gives one more unit.
        var units = FlopEstimator.Units(peakTflops: 2.0000000000000000000000000001m, count: 1, durationSeconds: 4_000_000_000_000_000_000, utilisation: 1m);

        Assert.Equal(8_000_000_000_000_000_001, units);
    }

    [Fact]
    public void EstimateUnits_ForAPrecisionWithoutAFigure_ErrsHigh() =>
        Assert.Equal(47 * 100, Estimator.EstimateUnits("P40", PrecisionClass.Bf16, 1, 100, 1m));

    [Fact]
    public void MaxPlausibleUnits_IsTheEstimateAtFullUtilisation() =>
        Assert.Equal(989 * 3600, Estimator.MaxPlausibleUnits("H100-SXM", PrecisionClass.Bf16, 1, 3600));

    [Fact]
    public void EstimateUnits_BeyondInt64_IsRefusedAsOverflow()
    {
        var e = Assert.Throws<OverflowException>(() => Estimator.EstimateUnits("B200", PrecisionClass.Fp8, long.MaxValue / 2, long.MaxValue / 2, 1m));
        Assert.Contains("int64", e.Message);
    }

    [Theory]
    [InlineData(-1, 1, "0.4")]
    [InlineData(1, -1, "0.4")]
    [InlineData(1, 1, "0")]
    [InlineData(1, 1, "1.5")]
    public void EstimateUnits_RefusesImpossibleInputs(long count, long seconds, string utilisation) =>
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            Estimator.EstimateUnits("A100", PrecisionClass.Bf16, count, seconds, decimal.Parse(utilisation, System.Globalization.CultureInfo.InvariantCulture)));

    [Fact]
    public void EstimateUnits_ForAnUnknownModel_Throws() =>
        Assert.Throws<UnknownAcceleratorException>(() => Estimator.EstimateUnits("nope", PrecisionClass.Bf16, 1, 1, 0.4m));

    [Fact]
    public void GpuSeconds_IsCountTimesDurationAndRefusesOverflow()
    {
        Assert.Equal(8 * 3600, FlopEstimator.GpuSeconds(8, 3600));
        Assert.Throws<OverflowException>(() => FlopEstimator.GpuSeconds(long.MaxValue, 2));
    }

    [Fact]
    public void FromFlop_RoundsUpToAWholeUnit()
    {
        Assert.Equal(0, FlopUnits.FromFlop(BigInteger.Zero));
        Assert.Equal(1, FlopUnits.FromFlop(BigInteger.One));
        Assert.Equal(1, FlopUnits.FromFlop(new BigInteger(1_000_000_000_000)));
        Assert.Equal(2, FlopUnits.FromFlop(new BigInteger(1_000_000_000_001)));
        Assert.Equal(1_424_160, FlopUnits.FromFlop(1.42416e18));
        Assert.Equal(2, FlopUnits.FromFlop(1.5e12));
        Assert.Equal(1, FlopUnits.FromFlop(0.5));
    }

    [Fact]
    public void FromFlop_TakesADoubleAtItsPrintedValue()
    {
        // The double nearest 1e25 is 10000000000000000905969664; taken literally it would round up to 1e13 + 1.
        Assert.Equal(10_000_000_000_000, FlopUnits.FromFlop(1e25));
        Assert.Equal(100_000_000_000_000, FlopUnits.FromFlop(1e26));
    }

    [Fact]
    public void FromFlop_RefusesNegativeNonFiniteAndOversizedValues()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => FlopUnits.FromFlop(-1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => FlopUnits.FromFlop(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => FlopUnits.FromFlop(double.PositiveInfinity));
        Assert.Throws<ArgumentOutOfRangeException>(() => FlopUnits.FromFlop(BigInteger.MinusOne));
        Assert.Throws<OverflowException>(() => FlopUnits.FromFlop(1e40));
    }
}
