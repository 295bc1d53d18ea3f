using Oversight.Policy.Counters;
using StackExchange.Redis;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>
/// A counter store whose next reset of a tag fails once when armed, as when Redis times out at
/// that moment: whatever the caller committed before it stays, and the caller's message is
/// retried. Everything else goes to the real store unchanged.
/// </summary>
public sealed class ResetFailingCounterStore(ICounterStore inner) : DelegatingCounterStore(inner)
{
    private int _armed;

    /// <summary>The next <see cref="ResetTagAsync"/> throws a Redis timeout (once).</summary>
    public void FailNextReset() => Interlocked.Exchange(ref _armed, 1);

    public override Task ResetTagAsync(string tag, bool keepHolds = false, CancellationToken cancellationToken = default) =>
        Interlocked.Exchange(ref _armed, 0) == 1
            ? throw new RedisTimeoutException($"simulated timeout resetting {tag}", CommandStatus.Unknown)
            : base.ResetTagAsync(tag, keepHolds, cancellationToken);
}
