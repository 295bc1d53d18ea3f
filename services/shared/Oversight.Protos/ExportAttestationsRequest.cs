namespace Oversight.Attestation.V1;

/// <summary>The limit the attestation service enforces and enforcement's rebuilds keep to: one constant for both.</summary>
public sealed partial class ExportAttestationsRequest
{
    /// <summary>The most account ids one call may name in <c>account_ids</c> (INVALID_ARGUMENT beyond).</summary>
    public const int MaxAccountIds = 1000;
}
