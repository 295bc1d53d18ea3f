using Oversight.Policy.Counters;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>
/// A counter store that sends every command to the real one: the fault-injecting stores of the
/// tests override only the command they delay, hold or fail.
/// </summary>
public abstract class DelegatingCounterStore(ICounterStore inner) : ICounterStore
{
    public virtual Task<string?> GetEpochAsync(string tag, CancellationToken cancellationToken = default) => inner.GetEpochAsync(tag, cancellationToken);

    public virtual Task InitializeTagAsync(string tag, string epoch, CancellationToken cancellationToken = default) => inner.InitializeTagAsync(tag, epoch, cancellationToken);

    public virtual Task ResetTagAsync(string tag, bool keepHolds = false, CancellationToken cancellationToken = default) => inner.ResetTagAsync(tag, keepHolds, cancellationToken);

    public virtual Task<ReserveResult> ReserveAsync(ReserveCommand command, CancellationToken cancellationToken = default) => inner.ReserveAsync(command, cancellationToken);

    public virtual Task<SettleResult> SettleAsync(SettleCommand command, CancellationToken cancellationToken = default) => inner.SettleAsync(command, cancellationToken);

    public virtual Task<ReleaseResult> ReleaseAsync(string tag, string leaseId, string accountId, long now, CancellationToken cancellationToken = default) =>
        inner.ReleaseAsync(tag, leaseId, accountId, now, cancellationToken);

    public virtual Task<ReadResult> ReadAsync(string tag, long now, IReadOnlyList<CounterWindow> windows, IReadOnlyList<string> subjects, CancellationToken cancellationToken = default) =>
        inner.ReadAsync(tag, now, windows, subjects, cancellationToken);

    public virtual Task<IReadOnlyList<CounterHold>> ReadHoldsAsync(string tag, long now, CancellationToken cancellationToken = default) =>
        inner.ReadHoldsAsync(tag, now, cancellationToken);

    public virtual Task RestoreHoldsAsync(string tag, long now, IReadOnlyList<CounterHold> holds, CancellationToken cancellationToken = default) =>
        inner.RestoreHoldsAsync(tag, now, holds, cancellationToken);
}
