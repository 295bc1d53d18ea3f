using Google.Protobuf.WellKnownTypes;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Hosting;
using Oversight.Signing;

namespace Oversight.Attestation.Ingest;

/// <summary>Structural checks of a submission: everything that needs neither the database nor the clock.</summary>
public static class AttestationValidator
{
    public const int MaxAcceleratorCount = 100_000;

    // Before 1970 or after 9999 a timestamp is a client bug, and DateTimeOffset cannot hold the latter.
    private const long MaxTimestampSeconds = 253_402_300_799;

    /// <summary>Throws INVALID_ARGUMENT naming every malformed field (proto paths, e.g. <c>attestation.accelerator_count</c>).</summary>
    public static void Validate(SubmitAttestationRequest request, TimeSpan maxIntervalDuration)
    {
        var a = request.Attestation;
        var v = new Validation();
        if (a is null)
        {
            v.Add("attestation", "attestation is required.").ThrowIfInvalid();
            return;
        }

        v.CheckId(a.AttestationId, "attestation.attestation_id")
            .CheckId(a.MarketplaceId, "attestation.marketplace_id")
            .CheckId(a.ProviderId, "attestation.provider_id")
            .CheckId(a.LeaseId, "attestation.lease_id")
            .CheckId(a.AccountId, "attestation.account_id")
            .CheckId(a.AcceleratorModel, "attestation.accelerator_model")
            .Check(a.AcceleratorCount is >= 1 and <= MaxAcceleratorCount, "attestation.accelerator_count", $"attestation.accelerator_count must be 1-{MaxAcceleratorCount}, not {a.AcceleratorCount}.")
            .Check(a.FlopUnits >= 0, "attestation.flop_units", $"attestation.flop_units must not be negative, not {a.FlopUnits}.")
            .Check(a.Precision != PrecisionClass.Unspecified && System.Enum.IsDefined(a.Precision), "attestation.precision", "attestation.precision must be one of FP64, FP32, TF32, BF16, FP8, INT8.")
            .Check(System.Enum.IsDefined(a.WorkloadClass), "attestation.workload_class", $"attestation.workload_class {(int)a.WorkloadClass} is not a defined value.")
            .Check(IsCommitment(a.WorkloadCommitment), "attestation.workload_commitment", "attestation.workload_commitment must be 64 lowercase hex characters (a SHA-256).")
            .Check(a.Sequence >= 1, "attestation.sequence", $"attestation.sequence must be at least 1, not {a.Sequence}.")
            .CheckId(request.KeyId, "key_id")
            .Check(request.Signature.Length == AttestationSignature.SignatureLength, "signature", $"signature must be {AttestationSignature.SignatureLength} bytes (IEEE P1363 r||s of ECDSA P-256), not {request.Signature.Length}.");

        var start = CheckTime(v, a.IntervalStart, "attestation.interval_start");
        var end = CheckTime(v, a.IntervalEnd, "attestation.interval_end");
        CheckTime(v, a.SignedAt, "attestation.signed_at");
        if (start is { } s && end is { } e)
        {
            v.Check(e > s, "attestation.interval_end", "attestation.interval_end must be after attestation.interval_start.");
            v.Check(e - s <= maxIntervalDuration, "attestation.interval_end",
                $"the interval must not be longer than {maxIntervalDuration.TotalDays:0.##} days; attest long leases periodically.");
        }

        v.ThrowIfInvalid();
    }

    public static bool IsCommitment(string value) =>
        value.Length == 64 && value.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');

    private static DateTimeOffset? CheckTime(Validation v, Timestamp? value, string field)
    {
        if (value is null)
        {
            v.Add(field, $"{field} is required.");
            return null;
        }

        if (value.Nanos != 0 || value.Seconds is < 0 or > MaxTimestampSeconds)
        {
            v.Add(field, $"{field} must be whole seconds (no fraction) between 1970 and 9999: the canonical form signs RFC 3339 seconds.");
            return null;
        }

        return value.ToDateTimeOffset();
    }
}
