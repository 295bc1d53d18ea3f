using System.Globalization;
using System.Numerics;

namespace Oversight.Policy.Accelerators;

/// <summary>
/// FLOP estimates from hardware time (Epoch AI's method): count x peak dense FLOP/s x duration x
/// utilisation, in FLOP units of 10^12 FLOP, rounded up. The arithmetic is exact (integers of any
/// size), so the same inputs give the same units everywhere; a result beyond int64 is refused.
/// </summary>
public sealed class FlopEstimator(AcceleratorCatalogue catalogue)
{
    public AcceleratorCatalogue Catalogue { get; } = catalogue;

    /// <summary>
    /// Estimated FLOP units for <paramref name="count"/> accelerators of a model running for
    /// <paramref name="durationSeconds"/> at <paramref name="utilisation"/> of peak. A precision the
    /// model has no figure for uses its highest figure, so a reservation errs high, never low.
    /// </summary>
    /// <exception cref="UnknownAcceleratorException">The model is not in the catalogue.</exception>
    /// <exception cref="OverflowException">The estimate does not fit in int64 units.</exception>
    public long EstimateUnits(string model, PrecisionClass precision, long count, long durationSeconds, decimal utilisation)
    {
        var rate = _last;
        if (rate is null || rate.Precision != precision || rate.Utilisation != utilisation || !string.Equals(rate.Model, model, StringComparison.Ordinal))
        {
            _last = rate = new Rate(model, precision, utilisation, Catalogue.PlausibilityPeak(model, precision));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegative(durationSeconds);
        return rate.TryUnits(count, durationSeconds, out var units) ? units : Units(rate.Peak, count, durationSeconds, utilisation);
    }

    // The last rate used. The replay estimates millions of jobs of one model at one utilisation, and
    // looking the model up (its name is normalised) and unpacking the decimals cost more than the
    // arithmetic. Immutable, so threads sharing the estimator at most replace each other's rate.
    private Rate? _last;

    /// <summary>peak x utilisation as an integer over a power of ten that fits 64 bits, when it does.</summary>
    private sealed class Rate
    {
        private readonly UInt128 _numerator;
        private readonly ulong _denominator;

        public Rate(string model, PrecisionClass precision, decimal utilisation, decimal peak)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(peak);
            if (utilisation is <= 0m or > 1m)
            {
                throw new ArgumentOutOfRangeException(nameof(utilisation), utilisation, "utilisation must be above 0 and at most 1");
            }

            (Model, Precision, Utilisation, Peak) = (model, precision, utilisation, peak);
            if (TryMantissa(peak, out var peakMantissa, out var peakScale) && TryMantissa(utilisation, out var utilMantissa, out var utilScale)
                && peakScale + utilScale <= 19)
            {
                _numerator = peakMantissa * utilMantissa; // each below 2^64
                _denominator = PowerOfTen(peakScale + utilScale); // 10^19 < 2^64
            }
        }

        public string Model { get; }

        public PrecisionClass Precision { get; }

        public decimal Utilisation { get; }

        public decimal Peak { get; }

        /// <summary>ceil(count x duration x peak x utilisation), when 128 bits hold the product.</summary>
        public bool TryUnits(long count, long durationSeconds, out long units)
        {
            units = 0;
            // count and duration are below 2^63: with a numerator below 2^64 each product fits in 128 bits
            // (no 128-bit division to check it: that is a slow software routine).
            var hardwareHigh = Math.BigMul((ulong)count, (ulong)durationSeconds, out var hardware);
            if (_denominator == 0 || hardwareHigh != 0 || _numerator > ulong.MaxValue)
            {
                return false;
            }

            var productHigh = Math.BigMul(hardware, (ulong)_numerator, out var productLow);
            var product = new UInt128(productHigh, productLow);
            var (quotient, remainder) = product <= ulong.MaxValue
                ? Math.DivRem((ulong)product, _denominator) is var (q, r) ? ((UInt128)q, (UInt128)r) : default
                : UInt128.DivRem(product, _denominator);
            var ceiling = remainder > 0 ? quotient + 1 : quotient;
            if (ceiling > long.MaxValue)
            {
                return false; // the slow path reports the overflow with its message
            }

            units = (long)ceiling;
            return true;
        }

        private static ulong PowerOfTen(int exponent)
        {
            var value = 1UL;
            for (var i = 0; i < exponent; i++)
            {
                value *= 10;
            }

            return value;
        }
    }

    /// <summary>The most FLOP units the hardware could have done: the plausibility bound for an attestation.</summary>
    public long MaxPlausibleUnits(string model, PrecisionClass precision, long count, long durationSeconds) =>
        EstimateUnits(model, precision, count, durationSeconds, utilisation: 1m);

    /// <summary>
    /// ceil(count x peakTflops x durationSeconds x utilisation): since 1 unit = 10^12 FLOP and the
    /// peak is in 10^12 FLOP/s, the powers of ten cancel.
    /// </summary>
    public static long Units(decimal peakTflops, long count, long durationSeconds, decimal utilisation)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(peakTflops);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegative(durationSeconds);
        if (utilisation is <= 0m or > 1m)
        {
            throw new ArgumentOutOfRangeException(nameof(utilisation), utilisation, "utilisation must be above 0 and at most 1");
        }
        if (TryUnitsInt128(peakTflops, count, durationSeconds, utilisation, out var fast))
        {
            return fast;
        }

        var (peakNumerator, peakDenominator) = Fraction(peakTflops);
        var (utilNumerator, utilDenominator) = Fraction(utilisation);
        var units = CeilingDivide(count * (BigInteger)durationSeconds * peakNumerator * utilNumerator, peakDenominator * utilDenominator);
        return ToInt64(units, $"{count} x {peakTflops} TFLOP/s x {durationSeconds} s x {utilisation}");
    }

    /// <summary>GPU-seconds: count x duration.</summary>
    /// <exception cref="OverflowException">The product does not fit in int64.</exception>
    public static long GpuSeconds(long count, long durationSeconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegative(durationSeconds);
        var high = Math.BigMul(count, durationSeconds, out long low);
        return high == 0 && low >= 0 ? low : ToInt64((BigInteger)count * durationSeconds, $"{count} accelerators x {durationSeconds} s");
    }

    internal static long ToInt64(BigInteger value, string what) =>
        value <= long.MaxValue
            ? (long)value
            : throw new OverflowException($"{what} = {value.ToString(CultureInfo.InvariantCulture)} does not fit in int64");

    // The same exact arithmetic in 128-bit integers, which covers every realistic request without
    // the allocations of BigInteger (the replay estimates millions of jobs). Anything that does not
    // fit (a mantissa beyond 64 bits, a product beyond 2^128) falls back to BigInteger.
    private static bool TryUnitsInt128(decimal peakTflops, long count, long durationSeconds, decimal utilisation, out long units)
    {
        units = 0;
        if (!TryMantissa(peakTflops, out var peak, out var peakScale) || !TryMantissa(utilisation, out var util, out var utilScale) || peakScale + utilScale > 38)
        {
            return false;
        }

        try
        {
            var numerator = checked((UInt128)(ulong)count * (ulong)durationSeconds * peak * util);
            var denominator = UInt128.One;
            for (var i = 0; i < peakScale + utilScale; i++)
            {
                denominator = checked(denominator * 10);
            }

            var quotient = UInt128.DivRem(numerator, denominator);
            var ceiling = quotient.Remainder > 0 ? quotient.Quotient + 1 : quotient.Quotient;
            if (ceiling > long.MaxValue)
            {
                return false; // the slow path reports the overflow with its message
            }

            units = (long)ceiling;
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    private static bool TryMantissa(decimal value, out UInt128 mantissa, out int scale)
    {
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        scale = (bits[3] >> 16) & 0xFF;
        mantissa = ((ulong)(uint)bits[1] << 32) | (uint)bits[0];
        return bits[2] == 0 && value >= 0;
    }

    // For non-negative numerators, which is all this class deals in.
    internal static BigInteger CeilingDivide(BigInteger numerator, BigInteger denominator)
    {
        var quotient = BigInteger.DivRem(numerator, denominator, out var remainder);
        return remainder > 0 ? quotient + 1 : quotient;
    }

    // A decimal is an integer over a power of ten: exact, whatever its digits.
    private static (BigInteger Numerator, BigInteger Denominator) Fraction(decimal value)
    {
        var denominator = BigInteger.Pow(10, value.Scale);
        // value x 10^scale is the decimal's own integer mantissa, so this product is exact.
        return (new BigInteger(value * (decimal)denominator), denominator);
    }
}

/// <summary>Conversions from FLOP to FLOP units (10^12 FLOP), rounded up to a whole unit.</summary>
public static class FlopUnits
{
    public const long FlopPerUnit = 1_000_000_000_000;

    /// <exception cref="OverflowException">The result does not fit in int64 units.</exception>
    public static long FromFlop(BigInteger flop)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(flop);
        return FlopEstimator.ToInt64(FlopEstimator.CeilingDivide(flop, FlopPerUnit), $"{flop} FLOP in units");
    }

    /// <summary>
    /// A double is taken at the decimal value it prints as (its shortest round-trip form), so
    /// 1e25 means exactly 10^25 FLOP, not the binary neighbour 10000000000000000905969664.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative, NaN or infinite.</exception>
    /// <exception cref="OverflowException">The result does not fit in int64 units.</exception>
    public static long FromFlop(double flop)
    {
        if (!double.IsFinite(flop) || flop < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(flop), flop, "FLOP must be a finite, non-negative number");
        }
        // "R" gives e.g. "1E+25" or "1.4241600000000001E+18": digits, an optional point, an optional exponent.
        var text = flop.ToString("R", CultureInfo.InvariantCulture);
        var parts = text.Split('E');
        var exponent = parts.Length == 2 ? int.Parse(parts[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) : 0;
        var mantissa = parts[0].Split('.');
        var fractionDigits = mantissa.Length == 2 ? mantissa[1] : "";
        var digits = BigInteger.Parse(mantissa[0] + fractionDigits, CultureInfo.InvariantCulture);
        exponent -= fractionDigits.Length;
        var units = exponent >= 0
            ? FlopEstimator.CeilingDivide(digits * BigInteger.Pow(10, exponent), FlopPerUnit)
            : FlopEstimator.CeilingDivide(digits, FlopPerUnit * BigInteger.Pow(10, -exponent));
        return FlopEstimator.ToInt64(units, $"{text} FLOP in units");
    }
}
