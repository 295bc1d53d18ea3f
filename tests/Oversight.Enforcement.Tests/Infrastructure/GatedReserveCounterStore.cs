using Oversight.Policy.Counters;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>
/// A counter store that, when armed, holds the next reserve at its start until the test opens the
/// gate, as on a replica paused (GC, CPU, a slow network) between reading the account and
/// reserving: whatever happens meanwhile happens before the reserve. Everything else goes to the
/// real store unchanged.
/// </summary>
public sealed class GatedReserveCounterStore(ICounterStore inner) : ICounterStore
{
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _armed;

    /// <summary>Holds the next reserve at the gate.</summary>
    public void Arm() => Interlocked.Exchange(ref _armed, 1);

    /// <summary>Completes when the held reserve has reached the gate.</summary>
    public Task Entered => _entered.Task;

    public void Open() => _open.TrySetResult();

    public async Task<ReserveResult> ReserveAsync(ReserveCommand command, CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _armed, 0) == 1)
        {
            _entered.TrySetResult();
            await _open.Task.WaitAsync(cancellationToken);
        }

        return await inner.ReserveAsync(command, cancellationToken);
    }

    public Task<string?> GetEpochAsync(string tag, CancellationToken cancellationToken = default) => inner.GetEpochAsync(tag, cancellationToken);

    public Task InitializeTagAsync(string tag, string epoch, CancellationToken cancellationToken = default) => inner.InitializeTagAsync(tag, epoch, cancellationToken);

    public Task ResetTagAsync(string tag, bool keepHolds = false, CancellationToken cancellationToken = default) => inner.ResetTagAsync(tag, keepHolds, cancellationToken);

    public Task<SettleResult> SettleAsync(SettleCommand command, CancellationToken cancellationToken = default) => inner.SettleAsync(command, cancellationToken);

    public Task<ReleaseResult> ReleaseAsync(string tag, string leaseId, string accountId, long now, CancellationToken cancellationToken = default) => inner.ReleaseAsync(tag, leaseId, accountId, now, cancellationToken);

    public Task<ReadResult> ReadAsync(string tag, long now, IReadOnlyList<CounterWindow> windows, IReadOnlyList<string> subjects, CancellationToken cancellationToken = default) =>
        inner.ReadAsync(tag, now, windows, subjects, cancellationToken);

    public Task<IReadOnlyList<CounterHold>> ReadHoldsAsync(string tag, long now, CancellationToken cancellationToken = default) =>
        inner.ReadHoldsAsync(tag, now, cancellationToken);

    public Task RestoreHoldsAsync(string tag, long now, IReadOnlyList<CounterHold> holds, CancellationToken cancellationToken = default) =>
        inner.RestoreHoldsAsync(tag, now, holds, cancellationToken);
}
