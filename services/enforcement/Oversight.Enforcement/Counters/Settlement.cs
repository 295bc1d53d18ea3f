using Oversight.Attestation.V1;
using Oversight.Contracts;
using Oversight.Policy.Accelerators;
using Oversight.Policy.Admission;

namespace Oversight.Enforcement.Counters;

/// <summary>One attestation as the usage it counts, whether it arrives live (UsageAttested) or from the ledger export.</summary>
public static class Settlement
{
    public static UsageRecord ToUsage(UsageAttested attested) => new(
        attested.AttestationId,
        string.IsNullOrEmpty(attested.LeaseId) ? null : attested.LeaseId,
        attested.FlopUnits,
        attested.GpuSeconds,
        attested.IntervalEnd.ToUnixTimeSeconds(),
        attested.Final);

    public static UsageRecord ToUsage(UsageAttestation attestation)
    {
        var start = attestation.IntervalStart.ToDateTimeOffset();
        var end = attestation.IntervalEnd.ToDateTimeOffset();
        return new UsageRecord(
            attestation.AttestationId,
            string.IsNullOrEmpty(attestation.LeaseId) ? null : attestation.LeaseId,
            attestation.FlopUnits,
            // Exactly as the attestation service computes UsageAttested.GpuSeconds, so that a
            // rebuild counts what the live event counted.
            FlopEstimator.GpuSeconds(attestation.AcceleratorCount, (long)(end - start).TotalSeconds),
            end.ToUnixTimeSeconds(),
            attestation.Final);
    }
}
