namespace Oversight.Hosting.Clock;

/// <summary>
/// A clock an admin sets through SetClock, so that a trace can be replayed against a live
/// deployment (DESIGN.md, Units and time). It never moves backwards: counters and holds
/// are pruned by "now", and a clock that went back would resurrect expired state.
/// </summary>
public sealed class SimulatedTimeProvider : TimeProvider
{
    private readonly object _gate = new();
    private DateTimeOffset _now;

    public SimulatedTimeProvider(DateTimeOffset start) => _now = start;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate)
        {
            return _now;
        }
    }

    /// <summary>Sets the clock; returns false (and changes nothing) if it would go backwards.</summary>
    public bool TrySet(DateTimeOffset now)
    {
        lock (_gate)
        {
            if (now < _now)
            {
                return false;
            }

            _now = now;
            return true;
        }
    }
}
