namespace Oversight.Hosting.Bus;

public enum BusTransport
{
    /// <summary>MassTransit's in-memory transport: the embedded default, one process only.</summary>
    InMemory,
    RabbitMq,
}

/// <summary>Section "Oversight:Bus".</summary>
public sealed class BusOptions
{
    public const string Section = "Oversight:Bus";

    public BusTransport Transport { get; set; } = BusTransport.InMemory;

    /// <summary>amqp://user:password@host:port/vhost (RabbitMq transport).</summary>
    public string? RabbitMqUri { get; set; }

    /// <summary>Prefix of queue names, so that several deployments can share one broker.</summary>
    public string? EndpointPrefix { get; set; }

    /// <summary>In-memory retries of a failing message before it faults (each after RetryIntervalMilliseconds).</summary>
    public int RetryLimit { get; set; } = 600;

    public int RetryIntervalMilliseconds { get; set; } = 1000;

    /// <summary>Messages seen before the kill switch may trip.</summary>
    public int KillSwitchActivationThreshold { get; set; } = 5;

    /// <summary>How long a tripped endpoint stays stopped before it restarts.</summary>
    public int KillSwitchRestartSeconds { get; set; } = 15;
}
