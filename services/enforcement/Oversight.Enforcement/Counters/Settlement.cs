using Oversight.Attestation.V1;
using Oversight.Contracts;
using Oversight.Policy.Accelerators;
using Oversight.Policy.Admission;
using Oversight.Policy.Counters;

namespace Oversight.Enforcement.Counters;

/// <summary>One attestation as the usage it counts, whether it arrives live (UsageAttested) or from the ledger export.</summary>
public static class Settlement
{
    public static UsageRecord ToUsage(UsageAttested attested) => new(
        MarkOf(attested.ProviderScopedId, attested.ProviderId, attested.AttestationId),
        string.IsNullOrEmpty(attested.LeaseId) ? null : attested.LeaseId,
        attested.FlopUnits,
        attested.GpuSeconds,
        attested.IntervalEnd.ToUnixTimeSeconds(),
        attested.Final);

    public static UsageRecord ToUsage(ExportAttestationsResponse entry)
    {
        var attestation = entry.Attestation;
        var start = attestation.IntervalStart.ToDateTimeOffset();
        var end = attestation.IntervalEnd.ToDateTimeOffset();
        return new UsageRecord(
            MarkOf(entry.ProviderScopedId, attestation.ProviderId, attestation.AttestationId),
            string.IsNullOrEmpty(attestation.LeaseId) ? null : attestation.LeaseId,
            attestation.FlopUnits,
            // Exactly as the attestation service computes UsageAttested.GpuSeconds, so that a
            // rebuild counts what the live event counted.
            FlopEstimator.GpuSeconds(attestation.AcceleratorCount, (long)(end - start).TotalSeconds),
            end.ToUnixTimeSeconds(),
            attestation.Final);
    }

    // Providers choose attestation ids, and two of one marketplace may use the same id for one
    // account: the mark names the provider. An entry recorded before ids were scoped per provider
    // keeps the bare id its event was marked by then (its id was unique in the deployment), so a
    // redelivery of what the earlier version counted is still recognised (docs/design.md).
    private static string MarkOf(bool providerScopedId, string providerId, string attestationId) =>
        providerScopedId ? CountedMark.For(providerId, attestationId) : attestationId;
}
