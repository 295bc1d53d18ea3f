namespace Oversight.Hosting.Clock;

/// <summary>Section "Oversight:Simulation". Refused in Production.</summary>
public sealed class SimulationOptions
{
    public const string Section = "Oversight:Simulation";

    /// <summary>When true the host's clock is set by the SetClock RPC instead of the system clock.</summary>
    public bool Enabled { get; set; }

    /// <summary>Where the simulated clock starts; defaults to the system time at start.</summary>
    public DateTimeOffset? StartAt { get; set; }
}
