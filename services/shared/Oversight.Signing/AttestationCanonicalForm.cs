using System.Globalization;
using System.Text;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Oversight.Attestation.V1;
using Oversight.Common.V1;

namespace Oversight.Signing;

/// <summary>
/// The canonical bytes a provider signs (docs/attestation-format.md): UTF-8 text, the header
/// line <c>oversight.attestation.v1</c>, then one <c>name=value</c> line per field of
/// <see cref="UsageAttestation"/> in proto field-number order, every line ending in LF.
/// Timestamps are RFC 3339 UTC with whole seconds, enums their proto value name without the
/// enum's prefix, booleans <c>true</c>/<c>false</c>, integers plain decimal.
/// Depends only on the proto types: the attestation service, the client library and a provider
/// host all encode with this one class.
/// </summary>
public static class AttestationCanonicalForm
{
    /// <summary>The first line of the canonical bytes: the format's name and version.</summary>
    public const string Header = "oversight.attestation.v1";

    // Generated C# enums carry no descriptor of their own; the file's descriptor has them.
    private static readonly EnumDescriptor PrecisionDescriptor = CommonReflection.Descriptor.FindTypeByName<EnumDescriptor>("PrecisionClass");
    private static readonly EnumDescriptor WorkloadClassDescriptor = CommonReflection.Descriptor.FindTypeByName<EnumDescriptor>("WorkloadClass");

    /// <summary>Field names in the order they are written (proto field names).</summary>
    public static readonly IReadOnlyList<string> FieldOrder =
    [
        "attestation_id", "marketplace_id", "provider_id", "lease_id", "account_id",
        "accelerator_model", "accelerator_count", "interval_start", "interval_end", "final",
        "flop_units", "precision", "workload_commitment", "workload_class", "signed_at", "sequence",
    ];

    /// <summary>The canonical bytes of <paramref name="attestation"/>.</summary>
    /// <exception cref="ArgumentException">
    /// A value cannot be encoded unambiguously: a string holding a control character, a missing
    /// timestamp or one with fractional seconds, or an enum value the proto does not define.
    /// </exception>
    public static byte[] Encode(UsageAttestation attestation)
    {
        ArgumentNullException.ThrowIfNull(attestation);
        var text = new StringBuilder(512).Append(Header).Append('\n');
        void Line(string name, string value) => text.Append(name).Append('=').Append(value).Append('\n');

        Line("attestation_id", Text(attestation.AttestationId, "attestation_id"));
        Line("marketplace_id", Text(attestation.MarketplaceId, "marketplace_id"));
        Line("provider_id", Text(attestation.ProviderId, "provider_id"));
        Line("lease_id", Text(attestation.LeaseId, "lease_id"));
        Line("account_id", Text(attestation.AccountId, "account_id"));
        Line("accelerator_model", Text(attestation.AcceleratorModel, "accelerator_model"));
        Line("accelerator_count", attestation.AcceleratorCount.ToString(CultureInfo.InvariantCulture));
        Line("interval_start", Time(attestation.IntervalStart, "interval_start"));
        Line("interval_end", Time(attestation.IntervalEnd, "interval_end"));
        Line("final", attestation.Final ? "true" : "false");
        Line("flop_units", attestation.FlopUnits.ToString(CultureInfo.InvariantCulture));
        Line("precision", EnumName(PrecisionDescriptor, (int)attestation.Precision, "PRECISION_CLASS_", "precision"));
        Line("workload_commitment", Text(attestation.WorkloadCommitment, "workload_commitment"));
        Line("workload_class", EnumName(WorkloadClassDescriptor, (int)attestation.WorkloadClass, "WORKLOAD_CLASS_", "workload_class"));
        Line("signed_at", Time(attestation.SignedAt, "signed_at"));
        Line("sequence", attestation.Sequence.ToString(CultureInfo.InvariantCulture));
        return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetBytes(text.ToString());
    }

    /// <summary>A timestamp as the canonical form writes it, e.g. <c>2026-01-02T03:04:05Z</c>.</summary>
    public static string FormatTime(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The canonical name of a precision class, e.g. <c>BF16</c>.</summary>
    public static string PrecisionName(PrecisionClass value) =>
        EnumName(PrecisionDescriptor, (int)value, "PRECISION_CLASS_", "precision");

    /// <summary>The canonical name of a workload class, e.g. <c>TRAINING</c> (<c>UNSPECIFIED</c> when absent).</summary>
    public static string WorkloadClassName(WorkloadClass value) =>
        EnumName(WorkloadClassDescriptor, (int)value, "WORKLOAD_CLASS_", "workload_class");

    /// <summary>The precision class of a canonical name such as <c>BF16</c> (the inverse of <see cref="PrecisionName"/>).</summary>
    /// <exception cref="ArgumentException">The name is not a value of PrecisionClass.</exception>
    public static PrecisionClass ParsePrecision(string name) =>
        (PrecisionClass)EnumNumber(PrecisionDescriptor, "PRECISION_CLASS_", name);

    /// <summary>The workload class of a canonical name such as <c>TRAINING</c> (the inverse of <see cref="WorkloadClassName"/>).</summary>
    /// <exception cref="ArgumentException">The name is not a value of WorkloadClass.</exception>
    public static WorkloadClass ParseWorkloadClass(string name) =>
        (WorkloadClass)EnumNumber(WorkloadClassDescriptor, "WORKLOAD_CLASS_", name);

    // A line break (or any control character) inside a value would let two different
    // attestations share one encoding; such values are refused rather than escaped.
    private static string Text(string value, string field) =>
        value.Any(char.IsControl)
            ? throw new ArgumentException($"{field} must not contain control characters.", nameof(value))
            : value;

    // Fractional seconds are refused, not truncated: truncation would sign a value other
    // than the one sent.
    private static string Time(Timestamp? value, string field)
    {
        if (value is null)
        {
            throw new ArgumentException($"{field} is required.", nameof(value));
        }

        if (value.Nanos != 0)
        {
            throw new ArgumentException($"{field} must be whole seconds.", nameof(value));
        }

        return FormatTime(value.ToDateTimeOffset());
    }

    private static string EnumName(EnumDescriptor descriptor, int number, string prefix, string field)
    {
        var name = descriptor.FindValueByNumber(number)?.Name
            ?? throw new ArgumentException($"{field} {number} is not a value of {descriptor.FullName}.", nameof(number));
        return name.StartsWith(prefix, StringComparison.Ordinal) ? name[prefix.Length..] : name;
    }

    private static int EnumNumber(EnumDescriptor descriptor, string prefix, string name) =>
        descriptor.FindValueByName(prefix + name)?.Number
            ?? throw new ArgumentException($"'{name}' is not a value of {descriptor.FullName}.", nameof(name));
}
