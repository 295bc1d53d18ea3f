using Oversight.Replay.Simulation;

namespace Oversight.Replay.Tests;

/// <summary>The replay's calendar queue must give exactly the order of a heap on (time, kind, order of scheduling).</summary>
public sealed class EventQueueTests
{
    [Theory]
    [InlineData(1, 30)]        // events close together: all in the ring
    [InlineData(2, 20_000)]    // many beyond the horizon: through the heap and back into the ring
    [InlineData(3, 3_000_000)] // mostly far apart
    public void ARandomSchedule_ComesOutInTimeKindAndSchedulingOrder(int seed, int spread)
    {
        var random = new Random(seed);
        var queue = new EventQueue<int>();
        var reference = new PriorityQueue<int, (long Time, int Kind, long Sequence)>();
        long now = 1_700_000_000, sequence = 0;
        var id = 0;

        void Schedule(long time)
        {
            var kind = random.Next(3);
            queue.Enqueue(time, kind, id);
            reference.Enqueue(id++, (time, kind, sequence++));
        }

        for (var step = 0; step < 50_000; step++)
        {
            var roll = random.NextDouble();
            if (roll < 0.45 || reference.Count == 0)
            {
                // Schedule from now: at now itself, soon, just past the horizon, or far away.
                Schedule(now + random.Next(4) switch
                {
                    0 => 0,
                    1 => random.Next(spread),
                    2 => EventQueue<int>.Horizon + random.Next(-2, 3),
                    _ => random.NextInt64(spread * 10L),
                });
            }
            else if (roll < 0.5)
            {
                // The clock moves on to a time no later than the next event (a trace job decided directly).
                reference.TryPeek(out _, out var next);
                now += random.NextInt64(Math.Max(1, next.Time - now + 1));
                queue.AdvanceTo(now);
            }
            else
            {
                Assert.True(queue.TryPeekTime(out var peeked));
                Assert.True(queue.TryDequeue(out var item, out var time, out var kind));
                Assert.True(reference.TryDequeue(out var expected, out var key));
                Assert.Equal((expected, key.Time, key.Kind), (item, time, kind));
                Assert.Equal(key.Time, peeked);
                now = time;
            }

            Assert.Equal(reference.Count, queue.Count);
        }

        while (reference.TryDequeue(out var expected, out var key))
        {
            Assert.True(queue.TryDequeue(out var item, out var time, out var kind));
            Assert.Equal((expected, key.Time, key.Kind), (item, time, kind));
        }

        Assert.False(queue.TryDequeue(out _, out _, out _));
        Assert.False(queue.TryPeekTime(out _));
    }

    [Fact]
    public void EventsAtTheEndsOfTime_ComeOutInOrder()
    {
        var queue = new EventQueue<int>();
        queue.Enqueue(long.MaxValue, 0, 3);
        queue.Enqueue(long.MinValue, 1, 2);
        queue.Enqueue(long.MinValue, 0, 1);
        queue.Enqueue(0, 2, 4);

        var order = new List<(int, long)>();
        while (queue.TryDequeue(out var item, out var time, out _))
        {
            order.Add((item, time));
        }

        Assert.Equal([(1, long.MinValue), (2, long.MinValue), (4, 0), (3, long.MaxValue)], order);
    }

    [Fact]
    public void AnEventBeforeTheClock_IsRefused()
    {
        var queue = new EventQueue<int>();
        queue.Enqueue(100, 0, 1);
        queue.TryDequeue(out _, out _, out _);

        Assert.Throws<ArgumentOutOfRangeException>(() => queue.Enqueue(99, 0, 2));
        queue.Enqueue(200, 0, 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => queue.AdvanceTo(201));
    }
}
