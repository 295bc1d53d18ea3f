using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Oversight.Client;

/// <summary>
/// What a verified tier token says (docs/kyc.md, Tier tokens): an account's tier and nothing else.
/// </summary>
/// <param name="Subject">The account id in its marketplace ("sub").</param>
/// <param name="TierId">The tier's id, e.g. <c>stated_purpose</c> ("tier").</param>
/// <param name="TierLevel">The tier's rung, 0 the lowest ("tier_level").</param>
/// <param name="Requirement">The tier's requirement: NONE, STATED_PURPOSE, IDENTITY or ORGANISATION ("requirement").</param>
/// <param name="PurposeCategory">The stated purpose's category, e.g. RESEARCH; null when none is stated ("purpose_category").</param>
/// <param name="Audience">Who the token was issued to ("aud").</param>
/// <param name="ExpiresAt">When it expires ("exp").</param>
/// <param name="KeyId">The KYC key that signed it ("kid").</param>
public sealed record TierTokenClaims(
    string Subject, string TierId, int TierLevel, string Requirement, string? PurposeCategory,
    string Audience, DateTimeOffset ExpiresAt, string KeyId);

/// <summary>The outcome of a tier-token check: the claims when valid, else why not.</summary>
/// <param name="IsValid">True when the signature, algorithm, audience and expiry all hold.</param>
/// <param name="Claims">The token's claims when valid.</param>
/// <param name="Error">Why the token was refused, when not valid.</param>
public sealed record TierTokenVerification(bool IsValid, TierTokenClaims? Claims, string? Error)
{
    internal static TierTokenVerification Invalid(string error) => new(false, null, error);
}

/// <summary>
/// Verifies tier tokens offline against the KYC service's JSON Web Key Set (GetTierTokenKeys):
/// an ES256 signature by a key of the set, the expected audience, and an expiry in the future.
/// Tier tokens carry no issuer; the key set is what is trusted (docs/design.md).
/// </summary>
public sealed class TierTokenVerifier
{
    private static readonly JsonWebTokenHandler Handler = new() { MapInboundClaims = false };
    private readonly JsonWebKeySet _keys;
    private readonly TimeSpan _clockSkew;
    private readonly TimeProvider _clock;

    /// <summary>A verifier over <paramref name="jwksJson"/> (the <c>jwks_json</c> of GetTierTokenKeys).</summary>
    /// <param name="jwksJson">An RFC 7517 JSON Web Key Set.</param>
    /// <param name="clockSkew">Tolerated skew on the expiry; default 30 seconds.</param>
    /// <param name="clock">The clock expiry is judged by; default the system clock.</param>
    public TierTokenVerifier(string jwksJson, TimeSpan? clockSkew = null, TimeProvider? clock = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(jwksJson);
        _keys = new JsonWebKeySet(jwksJson);
        _clockSkew = clockSkew ?? TimeSpan.FromSeconds(30);
        _clock = clock ?? TimeProvider.System;
        KeyIds = _keys.Keys.Select(k => k.Kid).Where(k => !string.IsNullOrEmpty(k)).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The key ids of the set.</summary>
    public IReadOnlySet<string> KeyIds { get; }

    /// <summary>True when <paramref name="token"/> names a key id this set does not hold (the set may need a refresh).</summary>
    public bool HasUnknownKey(string token) =>
        Handler.CanReadToken(token) && Handler.ReadJsonWebToken(token).Kid is { Length: > 0 } kid && !KeyIds.Contains(kid);

    /// <summary>Checks <paramref name="token"/> for <paramref name="audience"/> (the verifier's own name, e.g. its provider id).</summary>
    public async Task<TierTokenVerification> VerifyAsync(string token, string audience)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(audience);
        if (string.IsNullOrWhiteSpace(token) || !Handler.CanReadToken(token))
        {
            return TierTokenVerification.Invalid("not a compact JWS");
        }

        var now = _clock.GetUtcNow().UtcDateTime;
        var parameters = new TokenValidationParameters
        {
            // Tier tokens carry no issuer: the pinned key set is the trust anchor.
            ValidateIssuer = false,
            ValidateAudience = true,
            ValidAudience = audience,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ValidateLifetime = true,
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            IssuerSigningKeys = _keys.GetSigningKeys(),
            TryAllIssuerSigningKeys = false,
            // Judged by the injected clock rather than the machine's.
            LifetimeValidator = (notBefore, expires, _, _) =>
                expires is { } exp && now <= exp.Add(_clockSkew) && (notBefore is not { } nbf || nbf <= now.Add(_clockSkew)),
        };

        var result = await Handler.ValidateTokenAsync(token, parameters).ConfigureAwait(false);
        if (!result.IsValid)
        {
            return TierTokenVerification.Invalid(result.Exception?.Message ?? "the token did not verify");
        }

        var jwt = (JsonWebToken)result.SecurityToken;
        if (!jwt.TryGetPayloadValue<string>("tier", out var tier) || !jwt.TryGetPayloadValue<int>("tier_level", out var level) ||
            !jwt.TryGetPayloadValue<string>("requirement", out var requirement) || string.IsNullOrEmpty(jwt.Subject))
        {
            return TierTokenVerification.Invalid("the token lacks a tier claim (sub, tier, tier_level, requirement)");
        }

        jwt.TryGetPayloadValue<string>("purpose_category", out var purpose);
        return new TierTokenVerification(true, new TierTokenClaims(
            jwt.Subject, tier, level, requirement, string.IsNullOrEmpty(purpose) ? null : purpose,
            audience, new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero), jwt.Kid), null);
    }
}
