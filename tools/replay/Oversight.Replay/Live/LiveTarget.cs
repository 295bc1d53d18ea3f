using Grpc.Core;
using Grpc.Net.Client;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Enforcement.V1;
using Oversight.Kyc.V1;

namespace Oversight.Replay.Live;

/// <summary>
/// A running deployment as the live replay reaches it: the three services (one address for the
/// all-in-one program), a bearer token per role, and the simulated identity provider's callback
/// secret (for step-ups by identity or organisation verification).
/// </summary>
/// <param name="Tokens">A token for (role, marketplace or null for deployment-wide, provider or null).</param>
public sealed record LiveTarget(
    GrpcChannel KycChannel,
    GrpcChannel AttestationChannel,
    GrpcChannel EnforcementChannel,
    Func<string, string?, string?, string> Tokens,
    string? CallbackSecretId,
    string? CallbackSecret)
{
    public KycTiering.KycTieringClient Kyc { get; } = new(KycChannel);

    public WorkloadAttestation.WorkloadAttestationClient Attestation { get; } = new(AttestationChannel);

    public ThresholdEnforcement.ThresholdEnforcementClient Enforcement { get; } = new(EnforcementChannel);

    public SimulationClock.SimulationClockClient Clock { get; } = new(EnforcementChannel);

    /// <summary>Every host with its own clock: SetClock goes to each (the all-in-one program has one).</summary>
    public IReadOnlyList<SimulationClock.SimulationClockClient> Clocks { get; } =
        new[] { KycChannel, AttestationChannel, EnforcementChannel }.Distinct().Select(c => new SimulationClock.SimulationClockClient(c)).ToArray();

    public Metadata As(string role, string? marketplace, string? provider = null) =>
        new() { { "Authorization", $"Bearer {Tokens(role, marketplace, provider)}" } };

    /// <summary>The all-in-one program (or any deployment behind one address).</summary>
    /// <param name="handler">What carries the calls (a test's in-memory deployment); default: HTTP/2 to <paramref name="address"/>.</param>
    public static LiveTarget SingleAddress(Uri address, Func<string, string?, string?, string> tokens, string? callbackSecretId, string? callbackSecret, HttpMessageHandler? handler = null)
    {
        var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = handler });
        return new LiveTarget(channel, channel, channel, tokens, callbackSecretId, callbackSecret);
    }
}
