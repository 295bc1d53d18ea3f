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
