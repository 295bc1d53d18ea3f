namespace Oversight.Policy.Counters;

/// <summary>
/// The buckets of one (subject, window, metric): bucket indexes ascending in a compact deque of
/// two parallel arrays, with a running total. Usage normally arrives in time order, so adding is
/// an append or an increment of the last bucket and pruning advances the head: no allocation on
/// the hot path once the arrays have grown. Only non-zero amounts are stored. Not thread-safe
/// (the owning tag's lock guards it).
/// </summary>
internal sealed class BucketSeries
{
    private long[] _index = new long[4];
    private long[] _amount = new long[4];
    private int _head;
    private int _count;

    /// <summary>Sum of every stored bucket.</summary>
    public long Total { get; private set; }

    /// <summary>Oldest stored bucket index, or null when empty.</summary>
    public long? OldestBucket => _count == 0 ? null : _index[_head];

    public void Add(long bucket, long amount)
    {
        if (amount == 0)
        {
            return;
        }

        Total += amount;
        if (_count > 0)
        {
            var last = _head + _count - 1;
            if (_index[last] == bucket)
            {
                _amount[last] += amount;
                return;
            }

            if (_index[last] > bucket)
            {
                InsertOutOfOrder(bucket, amount);
                return;
            }
        }

        EnsureRoomAtEnd();
        var at = _head + _count;
        _index[at] = bucket;
        _amount[at] = amount;
        _count++;
    }

    /// <summary>Removes every bucket whose index is below <paramref name="minCountedBucket"/>.</summary>
    public void PruneBelow(long minCountedBucket)
    {
        while (_count > 0 && _index[_head] < minCountedBucket)
        {
            Total -= _amount[_head];
            _head++;
            _count--;
        }

        if (_count == 0)
        {
            _head = 0;
        }
    }

    private void InsertOutOfOrder(long bucket, long amount)
    {
        // Binary search in [head, head + count).
        int lo = _head, hi = _head + _count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var v = _index[mid];
            if (v == bucket)
            {
                _amount[mid] += amount;
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
        Array.Copy(_index, pos, _index, pos + 1, end - pos);
        Array.Copy(_amount, pos, _amount, pos + 1, end - pos);
        _index[pos] = bucket;
        _amount[pos] = amount;
        _count++;
    }

    private void EnsureRoomAtEnd()
    {
        if (_head + _count < _index.Length)
        {
            return;
        }

        if (_head > 0 && _count < _index.Length / 2)
        {
            Array.Copy(_index, _head, _index, 0, _count);
            Array.Copy(_amount, _head, _amount, 0, _count);
            _head = 0;
            return;
        }

        var index = new long[_index.Length * 2];
        var amount = new long[_amount.Length * 2];
        Array.Copy(_index, _head, index, 0, _count);
        Array.Copy(_amount, _head, amount, 0, _count);
        _index = index;
        _amount = amount;
        _head = 0;
    }
}
