using Oversight.Policy.Counters;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>
/// A counter store whose reset of a tag starts late, as on a replica that was paused (GC, CPU)
/// between seeing a tag's epoch missing and resetting it: the widest form of the race between
/// two replicas rebuilding the same tag. Everything else goes to the real store unchanged.
/// </summary>
public sealed class SlowResetCounterStore(ICounterStore inner, TimeSpan delay) : ICounterStore
{
    public Task<string?> GetEpochAsync(string tag, CancellationToken cancellationToken = default) => inner.GetEpochAsync(tag, cancellationToken);

    public Task InitializeTagAsync(string tag, string epoch, CancellationToken cancellationToken = default) => inner.InitializeTagAsync(tag, epoch, cancellationToken);

    public async Task ResetTagAsync(string tag, bool keepHolds = false, CancellationToken cancellationToken = default)
    {
        await Task.Delay(delay, cancellationToken);
        await inner.ResetTagAsync(tag, keepHolds, cancellationToken);
    }

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
