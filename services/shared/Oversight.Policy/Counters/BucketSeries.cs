using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Oversight.Policy.Counters;

/// <summary>
/// The buckets of one (subject, window), both metrics together: bucket indexes ascending, with a
/// running total per metric. The newest bucket is kept in the struct itself and the older ones in
/// a compact deque of triples (index, FLOP units, GPU-seconds) in one array. Usage normally
/// arrives in time order, so adding is an increment of the newest bucket (no array touched) or,
/// when a new bucket starts, moving the newest to the end of the array; pruning advances the
/// head: no allocation on the hot path once the array has grown. A struct kept inline in its
/// subject's array of windows, so that an account's counters take few cache lines (a replay
/// touches thousands of accounts in turn). Buckets where both amounts are zero are not stored.
/// Not thread-safe (the owning tag's lock guards it).
/// </summary>
internal struct BucketSeries
{
    private const int Stride = 3;
    private const int InitialBuckets = 8;

    private long[]? _data;
    private int _head; // in buckets
    private int _count; // buckets, the newest (in the struct) included
    private int _capacity; // the array's length in buckets, kept here so that appending reads nothing from the array

    // The oldest and newest bucket indexes and the newest bucket's amounts, in the struct so that
    // the usual calls (is anything to prune? add to the newest bucket) read no array: in a replay at
    // 10,000 accounts, fetching an account's bucket array was the costliest cache miss of an attestation.
    private long _oldest;
    private long _newest;
    private long _newestFlop;
    private long _newestGpu;

    public long FlopTotal { get; private set; }

    public long GpuTotal { get; private set; }

    public readonly long Total(Metric metric) => metric == Metric.FlopUnits ? FlopTotal : GpuTotal;

    /// <summary>The buckets in the array: all but the newest.</summary>
    private readonly int Older => _count - 1;

    /// <summary>The oldest stored bucket with a non-zero amount of <paramref name="metric"/>, or null.</summary>
    public readonly long? OldestBucket(Metric metric)
    {
        var offset = metric == Metric.FlopUnits ? 1 : 2;
        for (var i = _head; i < _head + Older; i++)
        {
            if (_data![(i * Stride) + offset] != 0)
            {
                return _data[i * Stride];
            }
        }

        return _count > 0 && (metric == Metric.FlopUnits ? _newestFlop : _newestGpu) != 0 ? _newest : null;
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
        if (_count == 0)
        {
            (_newest, _newestFlop, _newestGpu, _oldest, _count) = (bucket, flop, gpu, bucket, 1);
            return;
        }

        if (bucket == _newest)
        {
            _newestFlop += flop;
            _newestGpu += gpu;
            return;
        }

        if (bucket > _newest)
        {
            Append(_newest, _newestFlop, _newestGpu);
            (_newest, _newestFlop, _newestGpu) = (bucket, flop, gpu);
            _count++;
            return;
        }

        InsertOutOfOrder(bucket, flop, gpu);
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
            if (_count == 1)
            {
                FlopTotal -= _newestFlop;
                GpuTotal -= _newestGpu;
                (_count, _newestFlop, _newestGpu) = (0, 0, 0);
                break;
            }

            FlopTotal -= _data![(_head * Stride) + 1];
            GpuTotal -= _data[(_head * Stride) + 2];
            _head++;
            _count--;
            _oldest = _count > 1 ? Index(_head) : _newest;
        }

        if (_count <= 1)
        {
            _head = 0; // the array is empty
        }
    }

    /// <summary>Makes the array of older buckets before it is needed (see SubjectState.Prepare).</summary>
    public void Prepare()
    {
        if (_data is null)
        {
            (_data, _capacity) = (new long[Stride * InitialBuckets], InitialBuckets);
        }
    }

    public readonly BucketSeries Copy() => this with { _data = (long[]?)_data?.Clone() };

    private readonly long Index(int position) => _data![position * Stride];

    private readonly void Set(int position, long bucket, long flop, long gpu)
    {
        _data![position * Stride] = bucket;
        _data[(position * Stride) + 1] = flop;
        _data[(position * Stride) + 2] = gpu;
    }

    /// <summary>
    /// Puts a bucket after the array's last. Written without bounds checks (the room is made first,
    /// and <see cref="_capacity"/> is the array's length): a checked write reads the array's length,
    /// and that read, unlike a write, makes the processor wait while the array is fetched from memory.
    /// </summary>
    private void Append(long bucket, long flop, long gpu)
    {
        EnsureRoomAtEnd();
        // Checked for null here, in a local, so that the JIT does not check it again by reading the array.
        var data = _data ?? throw new InvalidOperationException("no room was made");
        Debug.Assert(data.Length == _capacity * Stride && _head + Older < _capacity);
        ref var slot = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), (_head + Older) * Stride);
        slot = bucket;
        Unsafe.Add(ref slot, 1) = flop;
        Unsafe.Add(ref slot, 2) = gpu;
    }

    /// <summary>Adds an amount to a bucket older than the newest: into the array, in order.</summary>
    private void InsertOutOfOrder(long bucket, long flop, long gpu)
    {
        // Binary search in [head, head + older).
        int lo = _head, hi = _head + Older - 1;
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
        var end = _head + Older;
        Array.Copy(_data!, pos * Stride, _data!, (pos + 1) * Stride, (end - pos) * Stride);
        Set(pos, bucket, flop, gpu);
        _count++;
    }

    /// <summary>Makes room for one more bucket after the array's last.</summary>
    private void EnsureRoomAtEnd()
    {
        if (_data is null)
        {
            Prepare();
            return;
        }

        if (_head + Older < _capacity)
        {
            return;
        }

        if (_head > 0 && Older < _capacity / 2)
        {
            Array.Copy(_data, _head * Stride, _data, 0, Older * Stride);
            _head = 0;
            return;
        }

        var data = new long[_data.Length * 2];
        Array.Copy(_data, _head * Stride, data, 0, Older * Stride);
        (_data, _capacity, _head) = (data, _capacity * 2, 0);
    }
}
