using System.ComponentModel.DataAnnotations;

namespace Oversight.Hosting;

/// <summary>Where a host listens and keeps local files. Section "Oversight:Hosting".</summary>
public sealed class HostingOptions
{
    public const string Section = "Oversight:Hosting";

    /// <summary>Address both ports bind to. Loopback by default; 0.0.0.0 in containers.</summary>
    [Required]
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>gRPC over HTTP/2 (cleartext unless TLS is configured on Kestrel).</summary>
    [Range(0, 65535)]
    public int GrpcPort { get; set; } = 7400;

    /// <summary>HTTP/1.1 liveness (/healthz/live), readiness (/healthz/ready) and metrics.</summary>
    [Range(0, 65535)]
    public int HealthPort { get; set; } = 7401;

    /// <summary>Folder for SQLite files and development keys in the embedded default.</summary>
    [Required]
    public string DataDirectory { get; set; } = "data";
}
