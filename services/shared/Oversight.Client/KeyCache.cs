using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Oversight.Attestation.V1;
using Oversight.Kyc.V1;
using Oversight.Signing;

namespace Oversight.Client;

/// <summary>
/// The public keys the client verifies with, kept across calls: the KYC tier-token key set (for
/// <see cref="OversightClientOptions.TierTokenKeysLifetime"/>) and the log key (pinned, or fetched once).
/// </summary>
internal sealed class KeyCache(IOptionsMonitor<OversightClientOptions> options, TimeProvider clock) : IDisposable
{
    /// <summary>
    /// A token naming an unknown key id fetches the key set again, but not more often than this:
    /// tokens with made-up key ids must not turn a verifier into a flood of GetTierTokenKeys calls.
    /// </summary>
    internal static readonly TimeSpan MinimumRefreshInterval = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private (TierTokenVerifier Verifier, DateTimeOffset FetchedAt)? _tierTokens;
    private LogKey? _logKey;

    public async Task<TierTokenVerifier> TierTokenVerifierAsync(KycTiering.KycTieringClient kyc, bool refresh, CancellationToken cancellationToken)
    {
        var settings = options.CurrentValue;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = clock.GetUtcNow();
            if (_tierTokens is { } cached &&
                (refresh ? now - cached.FetchedAt < MinimumRefreshInterval : now - cached.FetchedAt < settings.TierTokenKeysLifetime))
            {
                return cached.Verifier;
            }

            var jwks = await kyc.GetTierTokenKeysAsync(new GetTierTokenKeysRequest(), cancellationToken: cancellationToken).ConfigureAwait(false);
            var verifier = new TierTokenVerifier(jwks.JwksJson, settings.TierTokenClockSkew, clock);
            _tierTokens = (verifier, now);
            return verifier;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<LogKey> LogKeyAsync(WorkloadAttestation.WorkloadAttestationClient attestation, CancellationToken cancellationToken)
    {
        if (_logKey is { } known)
        {
            return known;
        }

        var settings = options.CurrentValue;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_logKey is null)
            {
                var (pem, name) = (settings.LogPublicKeyPem, settings.LogKeyName);
                if (string.IsNullOrWhiteSpace(pem))
                {
                    var published = await attestation.GetLogPublicKeyAsync(new GetLogPublicKeyRequest(), cancellationToken: cancellationToken).ConfigureAwait(false);
                    (pem, name) = (published.PublicKeyPem, published.KeyName);
                }

                var key = AttestationSignature.TryImportP256PublicKey(pem, out var error)
                    ?? throw new OversightVerificationException($"The log public key {error}");
                _logKey = new LogKey(name!, key);
            }

            return _logKey;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _logKey?.PublicKey.Dispose();
        _gate.Dispose();
    }

    internal sealed record LogKey(string Name, ECDsa PublicKey);
}
