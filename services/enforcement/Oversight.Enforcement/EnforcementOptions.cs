namespace Oversight.Enforcement;

/// <summary>Section "Oversight:Enforcement".</summary>
public sealed class EnforcementOptions
{
    public const string Section = "Oversight:Enforcement";

    /// <summary>
    /// StackExchange.Redis configuration of the counter store (e.g. "redis:6379,password=...").
    /// Empty: counters in this process's memory (the embedded default only; lost on restart
    /// and rebuilt from the ledger).
    /// </summary>
    public string? RedisConfiguration { get; set; }

    /// <summary>KYC's gRPC address for tier confirmations. Empty: this host (the all-in-one host).</summary>
    public string? KycAddress { get; set; }

    /// <summary>Attestation's gRPC address for rebuilds from the ledger. Empty: this host.</summary>
    public string? AttestationAddress { get; set; }

    /// <summary>Deadline of calls to KYC and attestation.</summary>
    public int PeerCallTimeoutSeconds { get; set; } = 10;

    /// <summary>How often a replica looks for a policy version stored by another replica.</summary>
    public int PolicyRefreshSeconds { get; set; } = 5;
}
