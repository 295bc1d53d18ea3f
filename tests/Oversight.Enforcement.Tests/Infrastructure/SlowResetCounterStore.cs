using Oversight.Policy.Counters;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>
/// A counter store whose reset of a tag starts late, as on a replica that was paused (GC, CPU)
/// between seeing a tag's epoch missing and resetting it: the widest form of the race between
/// two replicas rebuilding the same tag. Everything else goes to the real store unchanged.
/// </summary>
public sealed class SlowResetCounterStore(ICounterStore inner, TimeSpan delay) : DelegatingCounterStore(inner)
{
    public override async Task ResetTagAsync(string tag, bool keepHolds = false, CancellationToken cancellationToken = default)
    {
        await Task.Delay(delay, cancellationToken);
        await base.ResetTagAsync(tag, keepHolds, cancellationToken);
    }
}
