using Grpc.Core;
using Grpc.Net.Client;
using Oversight.Attestation.V1;
using Oversight.Enforcement.V1;
using Oversight.Kyc.V1;

namespace Oversight.IntegrationTests.Flow;

/// <summary>
/// Where the mission's flow runs: three separate hosts, or the all-in-one host (the same
/// channel three times). Tokens come from whatever signs them for that deployment.
/// </summary>
public sealed class FlowTarget(GrpcChannel kyc, GrpcChannel attestation, GrpcChannel enforcement, Func<string, string, string?, string> token)
{
    public KycTiering.KycTieringClient Kyc { get; } = new(kyc);
    public WorkloadAttestation.WorkloadAttestationClient Attestation { get; } = new(attestation);
    public ThresholdEnforcement.ThresholdEnforcementClient Enforcement { get; } = new(enforcement);

    /// <summary>Call headers with a token for a role in a marketplace (and a provider id for providers).</summary>
    public Metadata As(string role, string marketplace, string? provider = null) =>
        new() { { "Authorization", $"Bearer {token(role, marketplace, provider)}" } };
}
