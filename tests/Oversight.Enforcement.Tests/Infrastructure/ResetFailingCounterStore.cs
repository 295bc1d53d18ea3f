using Oversight.Policy.Counters;
using StackExchange.Redis;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>
/// A counter store whose next reset of a tag fails once when armed, as when Redis times out at
/// that moment: whatever the caller committed before it stays, and the caller's message is
/// retried. Everything else goes to the real store unchanged.
/// </summary>
public sealed class ResetFailingCounterStore(ICounterStore inner) : ICounterStore
{
    private int _armed;

    /// <summary>The next <see cref="ResetTagAsync"/> throws a Redis timeout (once).</summary>
    public void FailNextReset() => Interlocked.Exchange(ref _armed, 1);

    public Task<string?> GetEpochAsync(string tag, CancellationToken cancellationToken = default) => inner.GetEpochAsync(tag, cancellationToken);

    public Task InitializeTagAsync(string tag, string epoch, CancellationToken cancellationToken = default) => inner.InitializeTagAsync(tag, epoch, cancellationToken);

    public Task ResetTagAsync(string tag, bool keepHolds = false, CancellationToken cancellationToken = default) =>
        Interlocked.Exchange(ref _armed, 0) == 1
            ? throw new RedisTimeoutException($"simulated timeout resetting {tag}", CommandStatus.Unknown)
            : inner.ResetTagAsync(tag, keepHolds, cancellationToken);

    public Task<ReserveResult> ReserveAsync(ReserveCommand command, CancellationToken cancellationToken = default) => inner.ReserveAsync(command, cancellationToken);

    public Task<SettleResult> SettleAsync(SettleCommand command, CancellationToken cancellationToken = default) => inner.SettleAsync(command, cancellationToken);

    public Task<ReleaseResult> ReleaseAsync(string tag, string leaseId, string accountId, long now, CancellationToken cancellationToken = default) => inner.ReleaseAsync(tag, leaseId, accountId, now, cancellationToken);

    public Task<ReadResult> ReadAsync(string tag, long now, IReadOnlyList<CounterWindow> windows, IReadOnlyList<string> subjects, CancellationToken cancellationToken = default) =>
        inner.ReadAsync(tag, now, windows, subjects, cancellationToken);

    public Task<IReadOnlyList<CounterHold>> ReadHoldsAsync(string tag, long now, CancellationToken cancellationToken = default) =>
        inner.ReadHoldsAsync(tag, now, cancellationToken);

    public Task RestoreHoldsAsync(string tag, long now, IReadOnlyList<CounterHold> holds, CancellationToken cancellationToken = default) =>
        inner.RestoreHoldsAsync(tag, now, holds, cancellationToken);
}
