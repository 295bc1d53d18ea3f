using Oversight.Policy;

namespace Oversight.Replay.Simulation;

/// <summary>
/// Compute by tier and first step-up requests over time, in fixed buckets: its size grows with
/// the trace's span, not with its number of events.
/// </summary>
public sealed class ReplayTimeline(long bucketSeconds, int tiers)
{
    private readonly SortedDictionary<long, Point> _points = [];

    /// <summary>One bucket: FLOP units run by tier, and users first asked for each step-up.</summary>
    public sealed class Point(int tiers)
    {
        public long[] FlopByTier { get; } = new long[tiers];

        public long AskedPurpose { get; internal set; }

        public long AskedIdentity { get; internal set; }

        public long AskedOrganisation { get; internal set; }
    }

    public long BucketSeconds { get; } = bucketSeconds;

    /// <summary>Buckets by start time (Unix seconds), in time order; buckets with nothing in them are absent.</summary>
    public IEnumerable<KeyValuePair<long, Point>> Points => _points.Select(p => KeyValuePair.Create(p.Key * BucketSeconds, p.Value));

    /// <summary>
    /// A bucket size that gives at most about 400 points over a span: the smallest of a minute,
    /// 5 and 15 minutes, an hour, 6 hours, a day and a week that does, else whole weeks.
    /// </summary>
    public static long BucketFor(long spanSeconds)
    {
        long[] sizes = [60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400];
        foreach (var size in sizes)
        {
            if (spanSeconds / size <= 400)
            {
                return size;
            }
        }

        return 7 * 86400 * (spanSeconds / (7 * 86400 * 400) + 1);
    }

    /// <summary>
    /// Adds an attestation's FLOP spread over the seconds it covers, [<paramref name="from"/>,
    /// <paramref name="to"/>), in proportion (exactly, by cumulative shares), so that FLOP per
    /// bucket is a rate: a job attested once at its end would otherwise land whole in its last bucket.
    /// </summary>
    internal void Ran(long from, long to, int tier, long flop)
    {
        var point = PointAt(from);
        if (to - _lastStart <= BucketSeconds)
        {
            // Within one bucket (the usual case, and an empty interval).
            point.FlopByTier[tier] += flop;
            return;
        }

        long given = 0;
        for (var start = from; start < to; start = _lastStart + BucketSeconds)
        {
            point = PointAt(start);
            var share = ReplaySimulator.Share(flop, Math.Min(to, _lastStart + BucketSeconds) - from, to - from);
            point.FlopByTier[tier] += share - given;
            given = share;
        }
    }

    internal void Asked(long at, RequirementKind requirement)
    {
        var point = PointAt(at);
        switch (requirement)
        {
            case RequirementKind.StatedPurpose:
                point.AskedPurpose++;
                break;
            case RequirementKind.Identity:
                point.AskedIdentity++;
                break;
            case RequirementKind.Organisation:
                point.AskedOrganisation++;
                break;
        }
    }

    private Point PointAt(long at)
    {
        // Events come in time order, so most fall into the bucket before: no tree look-up for them.
        if (_last is { } last && at >= _lastStart && at - _lastStart < BucketSeconds)
        {
            return last;
        }

        var bucket = Math.DivRem(at, BucketSeconds) is var (q, r) && r < 0 ? q - 1 : q;
        if (!_points.TryGetValue(bucket, out var point))
        {
            _points[bucket] = point = new Point(tiers);
        }

        (_last, _lastStart) = (point, bucket * BucketSeconds);
        return point;
    }

    private Point? _last;
    private long _lastStart;
}
