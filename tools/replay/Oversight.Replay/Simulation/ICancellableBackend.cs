namespace Oversight.Replay.Simulation;

/// <summary>
/// A backend whose calls wait on something outside the process (the live backend's gRPC calls)
/// and can therefore be cancelled. <see cref="IReplayBackend"/>'s calls take no token (they are
/// synchronous, for the in-process replay's speed), so <see cref="ReplayRun.RunAsync"/> hands such
/// a backend the run's token for as long as the run lasts.
/// </summary>
public interface ICancellableBackend
{
    /// <summary>Cancels the backend's calls by <paramref name="cancellationToken"/> too, until the returned scope is disposed.</summary>
    IDisposable CancelCallsWith(CancellationToken cancellationToken);
}
