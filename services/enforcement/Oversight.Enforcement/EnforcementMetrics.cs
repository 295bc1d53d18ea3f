using System.Diagnostics.Metrics;

namespace Oversight.Enforcement;

/// <summary>OpenTelemetry metrics of enforcement (meter "Oversight.Enforcement").</summary>
public sealed class EnforcementMetrics
{
    public const string MeterName = "Oversight.Enforcement";

    private readonly Counter<long> _usageApplied;

    public EnforcementMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        Verdicts = meter.CreateCounter<long>("oversight.enforcement.verdicts", description: "Authorize verdicts, by verdict kind.");
        AuthorizeDuration = meter.CreateHistogram<double>("oversight.enforcement.authorize.duration", unit: "ms", description: "Authorize latency.");
        HoldsExpired = meter.CreateCounter<long>("oversight.enforcement.holds_expired", description: "Reservations that expired unsettled.");
        _usageApplied = meter.CreateCounter<long>("oversight.enforcement.usage_applied",
            description: "Attestations counted, by reservation: held (a live hold of the attested account's covered it) or none.");
        DuplicatesIgnored = meter.CreateCounter<long>("oversight.enforcement.usage_duplicates", description: "Redelivered attestations ignored.");
        Rebuilds = meter.CreateCounter<long>("oversight.enforcement.rebuilds", description: "Hash tags rebuilt from the ledger.");
    }

    public Counter<long> Verdicts { get; }
    public Histogram<double> AuthorizeDuration { get; }
    public Counter<long> HoldsExpired { get; }
    public Counter<long> DuplicatesIgnored { get; }
    public Counter<long> Rebuilds { get; }

    /// <summary>
    /// Counts an applied attestation, tagged <c>reservation</c> = <c>held</c> or <c>none</c>. Usage with
    /// no reservation is counted too, and is what an operator watches for: compute that ran without
    /// being admitted (or longer than its hold lived).
    /// </summary>
    public void UsageApplied(bool holdFound) =>
        _usageApplied.Add(1, new KeyValuePair<string, object?>("reservation", holdFound ? "held" : "none"));
}
