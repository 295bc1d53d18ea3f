namespace Oversight.Policy.Decisions;

/// <summary>
/// "Past the near-limit fraction of a limit", decided in integers: the policy's decimal fraction
/// as an exact ratio, so the verdict rule compares <c>after x denominator &gt; numerator x limit</c>
/// in 128 bits instead of in decimal arithmetic (about ten times slower, and the rule runs millions
/// of times in a replay). A fraction with more digits than that ratio holds uses decimal.
/// </summary>
internal readonly struct NearLimitThreshold
{
    private const long MaxDenominator = 1L << 60; // after < 2^65, so after x denominator < 2^125

    private readonly decimal _fraction;
    private readonly Int128 _numerator;
    private readonly Int128 _denominator;

    public NearLimitThreshold(decimal fraction)
    {
        _fraction = fraction;
        var bits = decimal.GetBits(fraction);
        var scale = (bits[3] >> 16) & 0xFF;
        var mantissa = ((UInt128)(uint)bits[2] << 64) | ((UInt128)(uint)bits[1] << 32) | (uint)bits[0];
        var denominator = UInt128.One;
        for (var i = 0; i < scale && denominator <= MaxDenominator; i++)
        {
            denominator *= 10;
        }

        if (fraction > 0 && denominator <= MaxDenominator && mantissa < denominator)
        {
            _numerator = (Int128)mantissa;
            _denominator = (Int128)denominator;
        }
    }

    /// <summary>Whether <paramref name="after"/> is past the fraction of <paramref name="limit"/>.</summary>
    public bool IsPast(Int128 after, long limit) =>
        _denominator > 0 ? after * _denominator > _numerator * limit : (decimal)after > _fraction * limit;

    /// <summary>
    /// The highest whole amount not past the fraction of <paramref name="limit"/>: an amount is past
    /// it exactly when it is above this (for a whole number, above fraction x limit is above its
    /// floor). Worked out once per limit, so that the rule compares, rather than multiplies, per call.
    /// </summary>
    public long HighestNotPast(long limit) =>
        _denominator > 0 ? (long)(_numerator * limit / _denominator) : (long)decimal.Floor(_fraction * limit);
}
