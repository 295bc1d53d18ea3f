using System.Security.Cryptography;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Options;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Enforcement.V1;
using Oversight.Kyc.V1;
using Oversight.Signing;
using Oversight.Signing.TransparencyLog;

namespace Oversight.Client;

/// <summary>
/// The Oversight client: the three typed gRPC clients (every call with a bearer token, a
/// deadline, retries where safe and typed errors), and helpers that make the common paths one
/// call. Get it from dependency injection after <c>services.AddOversightClient(configuration)</c>.
/// </summary>
public sealed class OversightClient
{
    private readonly KeyCache _keys;
    private readonly TimeProvider _clock;

    /// <summary>Made by dependency injection (<c>AddOversightClient</c>).</summary>
    internal OversightClient(
        KycTiering.KycTieringClient kyc,
        WorkloadAttestation.WorkloadAttestationClient attestation,
        ThresholdEnforcement.ThresholdEnforcementClient enforcement,
        KeyCache keys,
        TimeProvider clock)
    {
        Kyc = kyc;
        Attestation = attestation;
        Enforcement = enforcement;
        _keys = keys;
        _clock = clock;
    }

    /// <summary>KYC tiering: accounts, purposes, verifications, links, tier tokens, audit.</summary>
    public KycTiering.KycTieringClient Kyc { get; }

    /// <summary>Workload attestation: providers and keys, signed usage, the transparency log.</summary>
    public WorkloadAttestation.WorkloadAttestationClient Attestation { get; }

    /// <summary>Threshold enforcement: Authorize, usage, policy.</summary>
    public ThresholdEnforcement.ThresholdEnforcementClient Enforcement { get; }

    /// <summary>
    /// May this account run this lease now? One Authorize call, read as a decision: allowed, or
    /// what the user must do first (state a purpose, verify an identity or an organisation), or
    /// denied, with the service's message and the tier required. Idempotent on the lease id (and
    /// retried on UNAVAILABLE): asking again for the same lease returns the same reservation.
    /// </summary>
    public async Task<LeaseDecision> AuthorizeLeaseAsync(AuthorizeRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = await Enforcement.AuthorizeAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
        return LeaseDecision.From(response);
    }

    /// <summary>
    /// <see cref="AuthorizeLeaseAsync(AuthorizeRequest, CancellationToken)"/> for
    /// <paramref name="acceleratorCount"/> x <paramref name="acceleratorModel"/> (a catalogue id such as
    /// <c>H100-SXM</c>) for <paramref name="duration"/> (whole seconds), estimated by the policy
    /// unless <paramref name="flopUnits"/> (units of 10^12 FLOP) is given.
    /// </summary>
    public Task<LeaseDecision> AuthorizeLeaseAsync(
        string marketplaceId, string accountId, string leaseId, string acceleratorModel, int acceleratorCount, TimeSpan duration,
        PrecisionClass precision = PrecisionClass.Bf16, long? flopUnits = null, CancellationToken cancellationToken = default)
    {
        var request = new AuthorizeRequest
        {
            MarketplaceId = marketplaceId,
            AccountId = accountId,
            LeaseId = leaseId,
            AcceleratorModel = acceleratorModel,
            AcceleratorCount = acceleratorCount,
            DurationSeconds = (long)Math.Ceiling(duration.TotalSeconds),
            Precision = precision,
        };
        if (flopUnits is { } units)
        {
            request.FlopUnits = units;
        }

        return AuthorizeLeaseAsync(request, cancellationToken);
    }

    /// <summary>
    /// For provider hosts: signs <paramref name="attestation"/> over its canonical bytes
    /// (ECDSA P-256, SHA-256, IEEE P1363; docs/attestation-format.md) with the registered key
    /// <paramref name="keyId"/> and submits it. When <c>signed_at</c> is unset it is set to now
    /// (whole seconds) on <paramref name="attestation"/> itself. Idempotent on the provider's
    /// attestation id (and retried on UNAVAILABLE): submitting the same attestation again, after a
    /// timeout or a crash, returns the stored receipt.
    /// </summary>
    /// <returns>The receipt: ACCEPTED or FLAGGED, with its leaf index and leaf hash in the transparency log.</returns>
    /// <exception cref="ArgumentException">A field cannot be encoded (a control character, a fractional second, ...).</exception>
    /// <exception cref="OversightException">The service refused it (typed by status code; <see cref="OversightException.Reason"/> says why).</exception>
    public async Task<Receipt> SignAndSubmitUsageAsync(UsageAttestation attestation, string keyId, ECDsa privateKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(attestation);
        ArgumentException.ThrowIfNullOrWhiteSpace(keyId);
        // Stamped on the caller's attestation, not on a copy: submitted again, it then carries the
        // same bytes and gets the stored receipt, where a new signed_at would make it another
        // attestation under the same id (ALREADY_EXISTS, and a row in the review table).
        attestation.SignedAt ??= Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeSeconds(_clock.GetUtcNow().ToUnixTimeSeconds()));
        var request = new SubmitAttestationRequest
        {
            Attestation = attestation.Clone(),
            KeyId = keyId,
            Signature = ByteString.CopyFrom(AttestationSignature.Sign(attestation, privateKey)),
        };
        var response = await Attestation.SubmitAttestationAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
        return response.Receipt;
    }

    /// <summary>
    /// A verifier of tier tokens over the KYC service's current key set (GetTierTokenKeys, a
    /// public call), kept for <see cref="OversightClientOptions.TierTokenKeysLifetime"/>.
    /// </summary>
    public Task<TierTokenVerifier> GetTierTokenVerifierAsync(CancellationToken cancellationToken = default) =>
        _keys.TierTokenVerifierAsync(Kyc, refresh: false, cancellationToken);

    /// <summary>
    /// Verifies a tier token offline (ES256 signature by a key of the KYC key set, audience, expiry).
    /// A token signed by a key the cached set does not hold fetches the set again (a rotation), at
    /// most every 30 seconds.
    /// </summary>
    /// <param name="token">The compact JWS the marketplace handed over.</param>
    /// <param name="audience">The verifier's own name, which the token's <c>aud</c> must equal (e.g. its provider id).</param>
    /// <param name="cancellationToken">Cancels fetching the key set.</param>
    public async Task<TierTokenVerification> VerifyTierTokenAsync(string token, string audience, CancellationToken cancellationToken = default)
    {
        var verifier = await _keys.TierTokenVerifierAsync(Kyc, refresh: false, cancellationToken).ConfigureAwait(false);
        if (verifier.HasUnknownKey(token))
        {
            verifier = await _keys.TierTokenVerifierAsync(Kyc, refresh: true, cancellationToken).ConfigureAwait(false);
        }

        return await verifier.VerifyAsync(token, audience).ConfigureAwait(false);
    }

    /// <summary>
    /// The log's latest checkpoint, its signature checked against the log key
    /// (<see cref="OversightClientOptions.LogPublicKeyPem"/> when pinned, else the service's
    /// GetLogPublicKey, fetched once).
    /// </summary>
    /// <exception cref="OversightVerificationException">The note's signature does not verify.</exception>
    public async Task<Checkpoint> GetVerifiedCheckpointAsync(CancellationToken cancellationToken = default)
    {
        var key = await _keys.LogKeyAsync(Attestation, cancellationToken).ConfigureAwait(false);
        var response = await Attestation.GetCheckpointAsync(new GetCheckpointRequest(), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!ProofVerifier.TryVerifyCheckpoint(response.Note, key.Name, key.PublicKey, out var checkpoint))
        {
            throw new OversightVerificationException($"The checkpoint is not signed by the log key '{key.Name}': do not trust this log.");
        }

        return checkpoint!;
    }

    /// <summary>
    /// Proves that the leaf <paramref name="leafHashHex"/> (a receipt's <c>leaf_hash</c>) is in the
    /// log: fetches a signed checkpoint and the inclusion proof for its tree size, and checks both
    /// here (RFC 9162), trusting nothing the service says that is not signed or proven.
    /// </summary>
    /// <returns>The verified checkpoint and the leaf's index in it.</returns>
    /// <exception cref="OversightVerificationException">The checkpoint or the proof does not verify.</exception>
    public async Task<VerifiedInclusion> VerifyInclusionAsync(string leafHashHex, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(leafHashHex);
        var leafHash = Convert.FromHexString(leafHashHex);
        var checkpoint = await GetVerifiedCheckpointAsync(cancellationToken).ConfigureAwait(false);
        var proof = await Attestation.GetInclusionProofAsync(
            new GetInclusionProofRequest { LeafHash = leafHashHex.ToLowerInvariant(), TreeSize = checkpoint.TreeSize },
            cancellationToken: cancellationToken).ConfigureAwait(false);
        var hashes = proof.Hashes.Select(h => h.ToByteArray()).ToList();
        if (!ProofVerifier.VerifyInclusion(leafHash, proof.LeafIndex, checkpoint.TreeSize, hashes, checkpoint.RootHash))
        {
            throw new OversightVerificationException($"The inclusion proof of leaf {leafHashHex} does not lead to the signed root of tree size {checkpoint.TreeSize}.");
        }

        return new VerifiedInclusion(proof.LeafIndex, checkpoint);
    }

    /// <summary>
    /// Proves that the log only grew since <paramref name="trusted"/> (a checkpoint verified
    /// earlier): fetches the latest signed checkpoint and the consistency proof between the two,
    /// and checks both here.
    /// </summary>
    /// <returns>The latest checkpoint, now trusted in turn.</returns>
    /// <exception cref="OversightVerificationException">The checkpoint or the proof does not verify (the log was rewritten).</exception>
    public async Task<Checkpoint> VerifyConsistencyAsync(Checkpoint trusted, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trusted);
        var latest = await GetVerifiedCheckpointAsync(cancellationToken).ConfigureAwait(false);
        var proof = await Attestation.GetConsistencyProofAsync(
            new GetConsistencyProofRequest { FirstTreeSize = trusted.TreeSize, SecondTreeSize = latest.TreeSize },
            cancellationToken: cancellationToken).ConfigureAwait(false);
        var hashes = proof.Hashes.Select(h => h.ToByteArray()).ToList();
        if (latest.Origin != trusted.Origin ||
            !ProofVerifier.VerifyConsistency(trusted.TreeSize, latest.TreeSize, trusted.RootHash, latest.RootHash, hashes))
        {
            throw new OversightVerificationException($"The log of size {latest.TreeSize} is not an extension of the trusted one of size {trusted.TreeSize}.");
        }

        return latest;
    }
}

/// <summary>A leaf proven to be in the log.</summary>
/// <param name="LeafIndex">Its index (0-based) in the log.</param>
/// <param name="Checkpoint">The signed checkpoint whose root the proof leads to.</param>
public sealed record VerifiedInclusion(long LeafIndex, Checkpoint Checkpoint);
