using System.Numerics;

namespace Oversight.Replay.Simulation;

/// <summary>
/// The replay's pending events, taken out by time, then kind, then the order they were put in,
/// for a simulation whose clock never goes back (nothing is scheduled before the last time taken).
/// </summary>
/// <remarks>
/// A calendar queue, written here because no served collection has this shape: the replay
/// schedules almost every event (attestations an hour apart, retries after a step-up) within a
/// few hours of now, and a binary heap spent more time sifting than the policy core spent
/// deciding. A ring of one-second slots covers the next <see cref="Horizon"/> seconds; each slot
/// keeps one first-in-first-out list per kind, and a bitmap finds the next occupied slot. Events
/// further away wait in a heap and move into the ring as the clock approaches them (before any
/// event of the same second can be added directly, so the order within a slot stays the order of
/// scheduling).
/// </remarks>
internal sealed class EventQueue<TItem>
{
    /// <summary>Seconds ahead the ring covers (a power of two).</summary>
    public const int Horizon = 8192;

    private const int Mask = Horizon - 1;
    private const int Kinds = 3;

    private readonly int[] _head = new int[Horizon * Kinds];
    private readonly int[] _tail = new int[Horizon * Kinds];
    private readonly ulong[] _occupied = new ulong[Horizon / 64];
    private readonly PriorityQueue<TItem, (long Time, int Kind, long Sequence)> _later = new();
    private TItem[] _items = new TItem[1024];
    private int[] _next = new int[1024];
    private int _free = -1;
    private int _used;
    private long _now;
    private bool _started; // the clock has been set (by the first event taken or AdvanceTo)
    private long _sequence;

    public EventQueue()
    {
        Array.Fill(_head, -1);
        Array.Fill(_tail, -1);
    }

    public int Count { get; private set; }

    /// <summary>Adds an event at <paramref name="time"/> (not before the last time taken) of kind 0, 1 or 2 (lower kinds first within a second).</summary>
    public void Enqueue(long time, int kind, TItem item)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)kind, (uint)Kinds, nameof(kind));
        if (_started && time < _now)
        {
            throw new ArgumentOutOfRangeException(nameof(time), time, $"the queue's clock is at {_now}: an event cannot be scheduled before it");
        }

        Count++;
        // Until the clock is set, everything waits in the heap. The distance is taken as unsigned:
        // time >= now, so it is exact even where the signed difference would overflow.
        if (!_started || (ulong)(time - _now) >= Horizon)
        {
            _later.Enqueue(item, (time, kind, _sequence++));
            return;
        }

        Append(time, kind, item);
    }

    /// <summary>The time of the next event, when there is one.</summary>
    public bool TryPeekTime(out long time)
    {
        if (FindSlot(out time))
        {
            return true;
        }

        if (_later.TryPeek(out _, out var later))
        {
            time = later.Time;
            return true;
        }

        return false;
    }

    /// <summary>Moves the clock to <paramref name="time"/>, no later than the next event: later events can then be added in the ring.</summary>
    public void AdvanceTo(long time)
    {
        if (TryPeekTime(out var next) && next < time)
        {
            throw new ArgumentOutOfRangeException(nameof(time), time, $"an event is waiting at {next}");
        }

        MoveClock(time);
    }

    public bool TryDequeue(out TItem item, out long time, out int kind)
    {
        if (!FindSlot(out time))
        {
            if (!_later.TryPeek(out _, out var later))
            {
                (item, kind) = (default!, 0);
                return false;
            }

            MoveClock(later.Time);
            FindSlot(out time);
        }
        else
        {
            MoveClock(time);
        }

        var slot = (int)(time & Mask);
        for (kind = 0; kind < Kinds; kind++)
        {
            var list = (slot * Kinds) + kind;
            var node = _head[list];
            if (node < 0)
            {
                continue;
            }

            item = _items[node];
            _items[node] = default!;
            _head[list] = _next[node];
            if (_head[list] < 0)
            {
                _tail[list] = -1;
                if (_head[(slot * Kinds) + 0] < 0 && _head[(slot * Kinds) + 1] < 0 && _head[(slot * Kinds) + 2] < 0)
                {
                    _occupied[slot >> 6] &= ~(1UL << slot);
                }
            }

            _next[node] = _free;
            _free = node;
            Count--;
            return true;
        }

        throw new InvalidOperationException("an occupied slot held no event");
    }

    private void MoveClock(long time)
    {
        if (_started && time <= _now)
        {
            return;
        }

        (_now, _started) = (time, true);
        // Events now within the horizon join the ring in (time, kind, order) order, before anything
        // scheduled from now on can be added to their seconds.
        while (_later.TryPeek(out _, out var later) && (ulong)(later.Time - _now) < Horizon)
        {
            _later.TryDequeue(out var item, out _);
            Append(later.Time, later.Kind, item!);
        }
    }

    /// <summary>The first occupied second from the clock on, within the horizon.</summary>
    private bool FindSlot(out long time)
    {
        time = 0;
        if (Count - _later.Count == 0)
        {
            return false;
        }

        var start = (int)(_now & Mask);
        for (var scanned = 0; scanned < Horizon + 64; scanned += 64)
        {
            var position = (start + scanned) & Mask;
            var word = _occupied[position >> 6] >> (position & 63);
            if (word != 0)
            {
                var distance = scanned + BitOperations.TrailingZeroCount(word);
                if (distance < Horizon)
                {
                    time = _now + distance;
                    return true;
                }
            }

            // Continue from the next word boundary.
            scanned -= position & 63;
        }

        throw new InvalidOperationException("the ring holds events but no slot is marked");
    }

    private void Append(long time, int kind, TItem item)
    {
        var node = _free;
        if (node >= 0)
        {
            _free = _next[node];
        }
        else
        {
            if (_used == _items.Length)
            {
                Array.Resize(ref _items, _items.Length * 2);
                Array.Resize(ref _next, _next.Length * 2);
            }

            node = _used++;
        }

        _items[node] = item;
        _next[node] = -1;
        var slot = (int)(time & Mask);
        var list = (slot * Kinds) + kind;
        if (_tail[list] >= 0)
        {
            _next[_tail[list]] = node;
        }
        else
        {
            _head[list] = node;
        }

        _tail[list] = node;
        _occupied[slot >> 6] |= 1UL << slot;
    }
}
