using System.Numerics;
using HoldEntry = Oversight.Policy.Counters.InMemoryCounterStore.HoldEntry;

namespace Oversight.Policy.Counters;

/// <summary>How a <see cref="HoldTable{THasher}"/> hashes lease ids (a type argument, so that the call is inlined).</summary>
internal interface ILeaseHasher
{
    static abstract int Hash(string leaseId);
}

/// <summary>
/// The string's own hash: Marvin, seeded at random per process. Lease ids are chosen by clients
/// of the enforcement service, so a fixed hash would let one send ids that all land in one probe
/// run; with a seed it does not know, it cannot (so the table needs no guard against long runs).
/// Lease ids are short: in the replay benchmark a fixed FNV-1a hash was no faster.
/// </summary>
internal readonly struct RandomizedLeaseHasher : ILeaseHasher
{
    public static int Hash(string leaseId) => leaseId.GetHashCode();
}

/// <summary>
/// A tag's holds by lease id, with the earliest time any of them may expire.
/// </summary>
/// <remarks>
/// Hand-written because no served collection has this shape at this cost: a replay cycles through
/// thousands of tags, and each object a look-up fetches is a cache miss. A <c>Dictionary</c> is
/// three objects (itself, its buckets, its entries), and the expiry index was a
/// <c>PriorityQueue</c> with two more. Here the table is a struct inside its tag and the holds one
/// array of slots, so a look-up fetches that one array: open addressing with linear probing over a
/// power-of-two capacity, each slot keeping its lease id's hash (compared before the string, and
/// never computed again on growth or removal), and removal by backward shift, so that there are no
/// tombstones and a probe run ends at the first empty slot. Expiry keeps no index: pruning costs
/// nothing until <c>now</c> reaches the earliest expiry, and then walks the one array (holds
/// nearly always settle before they expire, so walks are rare, and a walk reads memory in order).
/// Guarded by the tag's lock.
/// </remarks>
internal struct HoldTable<THasher>
    where THasher : struct, ILeaseHasher
{
    /// <summary>The capacity of the first array (most tags hold a lease or two at a time).</summary>
    public const int MinCapacity = 4;

    /// <summary>The smallest capacity a prune gives a smaller array (1,024 slots are 56 KB).</summary>
    public const int ShrinkFrom = 1024;

    private Slot[]? _slots;
    private int _count;

    /// <summary>No hold expires before this (it may be earlier than the earliest live hold).</summary>
    private long _earliestExpiry;

    public HoldTable()
    {
        _earliestExpiry = long.MaxValue;
    }

    public readonly int Count => _count;

    /// <summary>The number of slots (0 before the first hold or <see cref="Prepare"/>).</summary>
    public readonly int Capacity => _slots?.Length ?? 0;

    /// <summary>
    /// The lease's slot, or, when the table has no hold of it, the complement (<c>~slot</c>, negative)
    /// of the slot <see cref="Insert"/> would fill; <paramref name="hash"/> is for <see cref="Insert"/>.
    /// </summary>
    public readonly int Find(string leaseId, out int hash)
    {
        hash = THasher.Hash(leaseId);
        var slots = _slots;
        if (slots is null)
        {
            return ~0;
        }

        var mask = slots.Length - 1;
        for (var i = hash & mask; ; i = (i + 1) & mask)
        {
            ref var slot = ref slots[i];
            if (slot.LeaseId is null)
            {
                return ~i;
            }

            if (slot.Hash == hash && string.Equals(slot.LeaseId, leaseId))
            {
                return i;
            }
        }
    }

    /// <summary>The hold in a slot <see cref="Find"/> returned; changed in place through the reference.</summary>
    public readonly ref HoldEntry EntryAt(int slot) => ref _slots![slot].Entry;

    public readonly bool TryGetValue(string leaseId, out HoldEntry entry)
    {
        var slot = Find(leaseId, out _);
        entry = slot >= 0 ? _slots![slot].Entry : default;
        return slot >= 0;
    }

    /// <summary>Adds a hold of a lease the table does not hold.</summary>
    /// <exception cref="ArgumentException">The table already holds the lease.</exception>
    public void Add(string leaseId, HoldEntry entry)
    {
        var slot = Find(leaseId, out var hash);
        if (slot >= 0)
        {
            throw new ArgumentException($"The lease '{leaseId}' is held already.", nameof(leaseId));
        }

        Insert(slot, hash, leaseId, entry);
    }

    /// <summary>
    /// Adds a hold where <see cref="Find"/> found none: <paramref name="notFound"/> and
    /// <paramref name="hash"/> are what it returned, with nothing added, removed or prepared since.
    /// </summary>
    public void Insert(int notFound, int hash, string leaseId, HoldEntry entry)
    {
        var slot = ~notFound;
        if (_slots is null || (_count + 1) * 4 > _slots.Length * 3)
        {
            Resize(CapacityFor(_count + 1));
            slot = EmptySlotOf(_slots!, hash);
        }

        _slots![slot] = new Slot(leaseId, hash, entry);
        _count++;
        _earliestExpiry = Math.Min(_earliestExpiry, entry.ExpiresAt);
    }

    /// <summary>Removes the hold in a slot <see cref="Find"/> returned; returns it.</summary>
    public HoldEntry RemoveAt(int slot)
    {
        var slots = _slots!;
        var removed = slots[slot].Entry;
        var mask = slots.Length - 1;
        // Backward shift: move each later hold of the probe run into the hole when the hole lies
        // between its home slot and where it is, so that every run stays unbroken.
        var hole = slot;
        for (var i = (hole + 1) & mask; slots[i].LeaseId is not null; i = (i + 1) & mask)
        {
            var home = slots[i].Hash & mask;
            if (((i - home) & mask) >= ((i - hole) & mask))
            {
                slots[hole] = slots[i];
                hole = i;
            }
        }

        slots[hole] = default;
        _count--;
        return removed;
    }

    /// <summary>
    /// Removes every hold that expired by <paramref name="now"/>, passing each to
    /// <paramref name="removed"/>; returns how many. Nothing is read before the earliest expiry.
    /// </summary>
    public int RemoveExpired<TRemoved>(long now, ref TRemoved removed)
        where TRemoved : struct, IHoldRemoved
    {
        if (now < _earliestExpiry)
        {
            return 0;
        }

        var slots = _slots;
        var pruned = 0;
        var earliest = long.MaxValue;
        if (slots is not null)
        {
            for (var i = 0; i < slots.Length; i++)
            {
                // A removal may shift a later hold into slot i (or, across the end, one already seen
                // and live): look at the slot again until it is empty or live.
                while (slots[i].LeaseId is not null)
                {
                    var expiresAt = slots[i].Entry.ExpiresAt;
                    if (expiresAt > now)
                    {
                        earliest = Math.Min(earliest, expiresAt);
                        break;
                    }

                    removed.Removed(RemoveAt(i));
                    pruned++;
                }
            }

            // A walk reads every slot: after a burst of very many holds, give the rest a smaller
            // array. Only a large array, and only far too large: below that, a walk costs a few
            // microseconds at most, and a tag's holds ebbing and flowing allocate nothing.
            if (slots.Length >= ShrinkFrom && CapacityFor(_count) * 8 <= slots.Length)
            {
                Resize(CapacityFor(_count));
            }
        }

        _earliestExpiry = earliest;
        return pruned;
    }

    /// <summary>Makes the first array of slots before the first hold (see InMemoryCounterStore.TagState.Account); does nothing once there is one.</summary>
    public void Prepare()
    {
        if (_slots is null)
        {
            Resize(MinCapacity);
        }
    }

    public void Clear()
    {
        _slots = null;
        _count = 0;
        _earliestExpiry = long.MaxValue;
    }

    /// <summary>Every hold, in no particular order.</summary>
    public readonly List<KeyValuePair<string, HoldEntry>> ToList()
    {
        var list = new List<KeyValuePair<string, HoldEntry>>(_count);
        foreach (var slot in _slots ?? [])
        {
            if (slot.LeaseId is not null)
            {
                list.Add(new(slot.LeaseId, slot.Entry));
            }
        }

        return list;
    }

    /// <summary>The smallest capacity that keeps <paramref name="count"/> holds at most three quarters full.</summary>
    private static int CapacityFor(int count) =>
        Math.Max(MinCapacity, (int)BitOperations.RoundUpToPowerOf2((uint)(((count * 4) + 2) / 3)));

    private void Resize(int capacity)
    {
        var old = _slots;
        var slots = new Slot[capacity];
        foreach (var slot in old ?? [])
        {
            if (slot.LeaseId is not null)
            {
                slots[EmptySlotOf(slots, slot.Hash)] = slot;
            }
        }

        _slots = slots;
    }

    private static int EmptySlotOf(Slot[] slots, int hash)
    {
        var mask = slots.Length - 1;
        var i = hash & mask;
        while (slots[i].LeaseId is not null)
        {
            i = (i + 1) & mask;
        }

        return i;
    }

    /// <summary>One slot: empty while <see cref="LeaseId"/> is null.</summary>
    private struct Slot(string leaseId, int hash, HoldEntry entry)
    {
        public string? LeaseId = leaseId;
        public int Hash = hash;
        public HoldEntry Entry = entry;
    }
}

/// <summary>Told of each hold <see cref="HoldTable{THasher}.RemoveExpired"/> removes (a struct, so the call is inlined).</summary>
internal interface IHoldRemoved
{
    void Removed(HoldEntry hold);
}
