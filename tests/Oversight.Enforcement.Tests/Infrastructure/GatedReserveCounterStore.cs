using Oversight.Policy.Counters;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>
/// A counter store that, when armed, holds the next reserve at its start until the test opens the
/// gate, as on a replica paused (GC, CPU, a slow network) between reading the account and
/// reserving: whatever happens meanwhile happens before the reserve. Everything else goes to the
/// real store unchanged.
/// </summary>
public sealed class GatedReserveCounterStore(ICounterStore inner) : DelegatingCounterStore(inner)
{
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _armed;

    /// <summary>Holds the next reserve at the gate.</summary>
    public void Arm() => Interlocked.Exchange(ref _armed, 1);

    /// <summary>Completes when the held reserve has reached the gate.</summary>
    public Task Entered => _entered.Task;

    public void Open() => _open.TrySetResult();

    public override async Task<ReserveResult> ReserveAsync(ReserveCommand command, CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _armed, 0) == 1)
        {
            _entered.TrySetResult();
            await _open.Task.WaitAsync(cancellationToken);
        }

        return await base.ReserveAsync(command, cancellationToken);
    }
}
