namespace Oversight.Policy.Counters;

/// <summary>
/// The buckets of one (subject, window), both metrics together: bucket indexes ascending in a
/// compact deque of triples (index, FLOP units, GPU-seconds) in one array, with a running total
/// per metric. Usage normally arrives in time order, so adding is an append or an increment of the
/// last bucket and pruning advances the head: no allocation on the hot path once the array has
/// grown. A struct kept inline in its subject's array of windows, with one array of buckets per
/// window, so that an account's counters take few cache lines (a replay touches thousands of
/// accounts in turn). Buckets where both amounts are zero are not stored; the array is made at the
/// first amount. Not thread-safe (the owning tag's lock guards it).
/// </summary>
internal struct BucketSeries
{
    private const int Stride = 3;
    private const int InitialBuckets = 8;

    private long[]? _data;
    private int _head; // in buckets
    private int _count;

    // Copies of the oldest and newest bucket indexes, kept in the struct so that the usual calls
    // (is anything to prune? is this the newest bucket?) read no array: only adding an amount and
    // actually pruning touch it.
    private long _oldest;
    private long _newest;

    public long FlopTotal { get; private set; }

    public long GpuTotal { get; private set; }

    public readonly long Total(Metric metric) => metric == Metric.FlopUnits ? FlopTotal : GpuTotal;

    /// <summary>The oldest stored bucket with a non-zero amount of <paramref name="metric"/>, or null.</summary>
    public readonly long? OldestBucket(Metric metric)
    {
        var offset = metric == Metric.FlopUnits ? 1 : 2;
        for (var i = _head; i < _head + _count; i++)
        {
            if (_data![(i * Stride) + offset] != 0)
            {
                return _data[i * Stride];
            }
        }

        return null;
    }

    /// <summary>floor(<paramref name="at"/> / B) for <paramref name="at"/> &gt;= 0, without dividing when it is the newest bucket (the usual case).</summary>
    public readonly long BucketOf(long at, long bucketSeconds)
    {
        if (_count > 0)
        {
            var start = _newest * bucketSeconds;
            if (at >= start && at - start < bucketSeconds)
            {
                return _newest;
            }
        }

        return at / bucketSeconds;
    }

    /// <summary>Adds to the totals only: for a lifetime window, which never prunes and so needs no buckets.</summary>
    public void AddToTotals(long flop, long gpu)
    {
        FlopTotal += flop;
        GpuTotal += gpu;
    }

    public void Add(long bucket, long flop, long gpu)
    {
        if (flop == 0 && gpu == 0)
        {
            return;
        }

        FlopTotal += flop;
        GpuTotal += gpu;
        if (_count > 0)
        {
            if (_newest == bucket)
            {
                var last = _head + _count - 1;
                _data![(last * Stride) + 1] += flop;
                _data[(last * Stride) + 2] += gpu;
                return;
            }

            if (_newest > bucket)
            {
                InsertOutOfOrder(bucket, flop, gpu);
                _oldest = Index(_head);
                return;
            }
        }

        EnsureRoomAtEnd();
        Set(_head + _count, bucket, flop, gpu);
        _count++;
        _newest = bucket;
        _oldest = Index(_head);
    }

    /// <summary>
    /// Removes every bucket a rolling window no longer counts at <paramref name="now"/>: bucket
    /// <c>i</c> counts while <c>(i + 1) * B + L &gt; now</c>. Written with a multiplication rather than
    /// <c>i &lt; floor((now - L) / B)</c> because a 64-bit division costs more than the rest of a
    /// check, and the replay makes tens of millions of them.
    /// </summary>
    public void PruneEnded(long now, long bucketSeconds, long lengthSeconds)
    {
        while (_count > 0 && ((_oldest + 1) * bucketSeconds) + lengthSeconds <= now)
        {
            FlopTotal -= _data![(_head * Stride) + 1];
            GpuTotal -= _data[(_head * Stride) + 2];
            _head++;
            _count--;
            if (_count > 0)
            {
                _oldest = Index(_head);
            }
        }

        if (_count == 0)
        {
            _head = 0;
        }
    }

    /// <summary>Makes the array of buckets before the first amount comes (see SubjectState.Prepare).</summary>
    public void Prepare() => _data ??= new long[Stride * InitialBuckets];

    public readonly BucketSeries Copy() => this with { _data = (long[]?)_data?.Clone() };

    private readonly long Index(int position) => _data![position * Stride];

    private readonly void Set(int position, long bucket, long flop, long gpu)
    {
        _data![position * Stride] = bucket;
        _data[(position * Stride) + 1] = flop;
        _data[(position * Stride) + 2] = gpu;
    }

    private void InsertOutOfOrder(long bucket, long flop, long gpu)
    {
        // Binary search in [head, head + count).
        int lo = _head, hi = _head + _count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var v = Index(mid);
            if (v == bucket)
            {
                _data![(mid * Stride) + 1] += flop;
                _data[(mid * Stride) + 2] += gpu;
                return;
            }

            if (v < bucket)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        // lo is the insert position (relative to the array); keep it relative to head across a compaction.
        var offset = lo - _head;
        EnsureRoomAtEnd();
        var pos = _head + offset;
        var end = _head + _count;
        Array.Copy(_data!, pos * Stride, _data!, (pos + 1) * Stride, (end - pos) * Stride);
        Set(pos, bucket, flop, gpu);
        _count++;
    }

    private void EnsureRoomAtEnd()
    {
        if (_data is null)
        {
            _data = new long[Stride * InitialBuckets];
            return;
        }

        var capacity = _data.Length / Stride;
        if (_head + _count < capacity)
        {
            return;
        }

        if (_head > 0 && _count < capacity / 2)
        {
            Array.Copy(_data, _head * Stride, _data, 0, _count * Stride);
            _head = 0;
            return;
        }

        var data = new long[_data.Length * 2];
        Array.Copy(_data, _head * Stride, data, 0, _count * Stride);
        _data = data;
        _head = 0;
    }
}
