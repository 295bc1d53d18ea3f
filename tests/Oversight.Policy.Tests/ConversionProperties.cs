using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Oversight.Policy.Accelerators;
using Oversight.Policy.Documents;

namespace Oversight.Policy.Tests;

/// <summary>Properties of unit conversion, estimates and the document round trip.</summary>
public class ConversionProperties
{
    [Property(MaxTest = 500)]
    public bool FromFlop_IsTheSmallestWholeUnitCountCoveringTheFlop(NonNegativeInt high, NonNegativeInt low)
    {
        var flop = (BigInteger)high.Get * 1_000_000_007 + low.Get;

        var units = FlopUnits.FromFlop(flop);

        return units * (BigInteger)FlopUnits.FlopPerUnit >= flop && (units - 1) * (BigInteger)FlopUnits.FlopPerUnit < flop;
    }

    [Property(MaxTest = 500)]
    public bool Estimates_GrowWithTimeAndNeverExceedTheFullUtilisationBound(PositiveInt count, NonNegativeInt seconds, PositiveInt percent)
    {
        var estimator = new FlopEstimator(AcceleratorCatalogue.Default);
        var utilisation = Math.Min(percent.Get, 100) / 100m;

        var estimate = estimator.EstimateUnits("A100", PrecisionClass.Bf16, count.Get, seconds.Get, utilisation);
        var longer = estimator.EstimateUnits("A100", PrecisionClass.Bf16, count.Get, seconds.Get + 1L, utilisation);
        var bound = estimator.MaxPlausibleUnits("A100", PrecisionClass.Bf16, count.Get, seconds.Get);

        return estimate <= longer && estimate <= bound;
    }

    [Property(MaxTest = 1000)]
    public bool Estimates_OnTheCachedRate_AreTheExactCeiling(PositiveInt count, NonNegativeInt seconds, PositiveInt percent, bool huge)
    {
        // The estimator's cached 64-bit rate against BigInteger arithmetic written here, for
        // ordinary requests and for products beyond 64 bits (the 128-bit and BigInteger paths).
        var estimator = new FlopEstimator(AcceleratorCatalogue.Default);
        var utilisation = Math.Min(percent.Get, 1000) / 1000m;
        var duration = huge ? (long)seconds.Get * 1_000_003 : seconds.Get;
        var peak = AcceleratorCatalogue.Default.PlausibilityPeak("H100-SXM", PrecisionClass.Bf16);

        var exact = (BigInteger)count.Get * duration * (BigInteger)(peak * 10) * (BigInteger)(utilisation * 1000);
        var expected = BigInteger.DivRem(exact, 10_000, out var remainder) + (remainder > 0 ? 1 : 0);

        return estimator.EstimateUnits("H100-SXM", PrecisionClass.Bf16, count.Get, duration, utilisation) == expected
            && estimator.EstimateUnits("H100-SXM", PrecisionClass.Fp8, count.Get, duration, utilisation) == FlopEstimator.Units(
                AcceleratorCatalogue.Default.PlausibilityPeak("H100-SXM", PrecisionClass.Fp8), count.Get, duration, utilisation);
    }

    [Theory]
    [InlineData("0.8")]
    [InlineData("0.333333333333333333333333333")] // more digits than the integer ratio holds: decimal arithmetic
    [InlineData("0.5000000001")]
    [InlineData("0.9999999999999999999")] // past the integer ratio too, next to 1
    public void NearLimit_IsPastExactlyWhereDecimalArithmeticSaysSo(string fraction)
    {
        var threshold = new Oversight.Policy.Decisions.NearLimitThreshold(decimal.Parse(fraction, System.Globalization.CultureInfo.InvariantCulture));
        var f = decimal.Parse(fraction, System.Globalization.CultureInfo.InvariantCulture);
        foreach (var limit in new long[] { 1, 3, 10, 999_999_937, 100_000_000_000_000 })
        {
            var edge = (long)(f * limit);
            for (var after = Math.Max(0, edge - 2); after <= edge + 2; after++)
            {
                Assert.Equal((decimal)after > f * limit, threshold.IsPast(after, limit));
                Assert.Equal((decimal)after > f * limit, after > threshold.HighestNotPast(limit));
            }
        }
    }

    [Property(MaxTest = 200)]
    public Property Documents_RoundTripThroughYaml() => Prop.ForAll(
        Arb.From(
            from fraction in Gen.Choose(1, 999)
            from utilisation in Gen.Choose(1, 1000)
            from ttl in Gen.Choose(1, int.MaxValue)
            from open in Gen.Elements(true, false)
            select DefaultPolicy.Document with
            {
                NearLimitFraction = fraction / 1000m,
                Utilisation = utilisation / 1000m,
                HoldTtlSeconds = ttl,
                FailMode = open ? FailMode.Open : FailMode.Closed,
            }),
        document => PolicyLoader.Load(PolicyLoader.ToYaml(document)) == document);
}
