using System.Diagnostics.Metrics;
using Grpc.Core;
using Oversight.Attestation.V1;

namespace Oversight.Attestation;

/// <summary>Counters of receipts and refusals (meter "Oversight.Attestation").</summary>
public sealed class AttestationMetrics
{
    public const string MeterName = "Oversight.Attestation";

    private readonly Counter<long> _recorded;
    private readonly Counter<long> _refused;

    public AttestationMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _recorded = meter.CreateCounter<long>("oversight.attestation.recorded", description: "Attestations stored, logged and published, by outcome.");
        _refused = meter.CreateCounter<long>("oversight.attestation.refused", description: "Submissions refused, by gRPC status.");
    }

    public void Recorded(Outcome outcome) => _recorded.Add(1, new KeyValuePair<string, object?>("outcome", outcome.ToString()));

    public void Refused(StatusCode status) => _refused.Add(1, new KeyValuePair<string, object?>("status", status.ToString()));
}
