using Oversight.Policy.Counters;
using Xunit;

namespace Oversight.Policy.Tests;

/// <summary>The in-memory store's bucket series against a plain sorted map of buckets.</summary>
public sealed class BucketSeriesTests
{
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(4, true)]
    public void RandomAddsAndPrunes_KeepTheTotalsAndOldestBucketsOfASortedMap(int seed, bool prepared)
    {
        const long bucket = 3600, length = 86400;
        var random = new Random(seed);
        var series = new BucketSeries();
        if (prepared)
        {
            series.Prepare();
        }

        var model = new SortedDictionary<long, (long Flop, long Gpu)>();
        long now = 1_800_000_000;

        for (var step = 0; step < 20_000; step++)
        {
            now += random.Next(0, 1800);
            if (random.NextDouble() < 0.8)
            {
                // Mostly the newest bucket, sometimes an older or a future one; sometimes one metric only.
                var at = Math.Max(0, now - (random.NextDouble() < 0.8 ? random.Next(0, 600) : random.Next(0, 200_000)) + (random.NextDouble() < 0.05 ? 50_000 : 0));
                var index = series.BucketOf(at, bucket);
                Assert.Equal(at / bucket, index);
                var (flop, gpu) = (random.NextDouble() < 0.2 ? 0 : random.Next(0, 1000), random.NextDouble() < 0.2 ? 0 : random.Next(0, 1000));
                if (((index + 1) * bucket) + length <= now)
                {
                    continue; // the store never adds a bucket the window no longer counts
                }

                series.Add(index, flop, gpu);
                if (flop != 0 || gpu != 0)
                {
                    model[index] = model.TryGetValue(index, out var old) ? (old.Flop + flop, old.Gpu + gpu) : (flop, gpu);
                }
            }
            else
            {
                series.PruneEnded(now, bucket, length);
                foreach (var ended in model.Keys.Where(i => ((i + 1) * bucket) + length <= now).ToArray())
                {
                    model.Remove(ended);
                }

                Assert.Equal(model.Values.Sum(v => v.Flop), series.FlopTotal);
                Assert.Equal(model.Values.Sum(v => v.Gpu), series.GpuTotal);
                Assert.Equal(model.FirstOrDefault(b => b.Value.Flop != 0) is { Value.Flop: not 0 } f ? f.Key : null, series.OldestBucket(Metric.FlopUnits));
                Assert.Equal(model.FirstOrDefault(b => b.Value.Gpu != 0) is { Value.Gpu: not 0 } g ? g.Key : null, series.OldestBucket(Metric.GpuSeconds));
            }
        }

        // A copy (a cluster made from its first account) prunes the same and shares no array with the original.
        var copy = series.Copy();
        var later = now + (10 * length);
        series.Add(later / bucket, 7, 7);
        copy.PruneEnded(later, bucket, length);
        series.PruneEnded(later, bucket, length);
        Assert.Equal((0, 0), (copy.FlopTotal, copy.GpuTotal));
        Assert.Equal((7, 7), (series.FlopTotal, series.GpuTotal));
    }
}
