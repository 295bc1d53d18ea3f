using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Oversight.Kyc.Tokens;

/// <summary>What a tier token says, and nothing more (issue 4, item 6).</summary>
/// <param name="Subject">The account's pseudonym in its marketplace ("sub").</param>
/// <param name="TierId">The tier's id from the ladder ("tier").</param>
/// <param name="TierLevel">Its rung, 0 the lowest ("tier_level").</param>
/// <param name="Requirement">The tier's requirement kind, e.g. IDENTITY ("requirement").</param>
/// <param name="PurposeCategory">The stated purpose's category, when one is stated ("purpose_category").</param>
public sealed record TierTokenClaims(string Subject, string TierId, int TierLevel, string Requirement, string? PurposeCategory);

/// <summary>
/// The tier-token keys: the current one signs short-lived ES256 JWTs; every key that may still
/// have unexpired tokens is published as a JWKS for offline verification. Keys are read from
/// <see cref="TierTokenOptions"/> once (validated at start).
/// </summary>
public sealed class TierTokenKeys(IOptions<TierTokenOptions> options)
{
    public const string Algorithm = SecurityAlgorithms.EcdsaSha256;

    private static readonly JsonWebTokenHandler Handler = new() { SetDefaultTimesOnTokenCreation = false };
    private readonly Lazy<IReadOnlyList<LoadedKey>> _keys = new(() => Load(options.Value));

    public TierTokenOptions Options => options.Value;

    public string CurrentKeyId => Current.Options.KeyId;

    private LoadedKey Current => _keys.Value.Single(k => k.Options.Current);

    /// <summary>
    /// Signs a token with the current key. Claims: sub, tier, tier_level, requirement,
    /// purpose_category (when stated), aud, iat, exp; header: alg ES256, kid, typ JWT.
    /// </summary>
    public string Issue(TierTokenClaims claims, string audience, DateTimeOffset issuedAt, DateTimeOffset expiresAt)
    {
        var payload = new Dictionary<string, object>
        {
            [JwtRegisteredClaimNames.Sub] = claims.Subject,
            ["tier"] = claims.TierId,
            ["tier_level"] = claims.TierLevel,
            ["requirement"] = claims.Requirement,
        };
        if (claims.PurposeCategory is not null)
        {
            payload["purpose_category"] = claims.PurposeCategory;
        }

        return Handler.CreateToken(new SecurityTokenDescriptor
        {
            Audience = audience,
            Claims = payload,
            IssuedAt = issuedAt.UtcDateTime,
            Expires = expiresAt.UtcDateTime,
            SigningCredentials = new SigningCredentials(Current.SecurityKey, Algorithm),
        });
    }

    /// <summary>
    /// The public keys (RFC 7517 JWKS) of the current key and of every rotated-out key whose
    /// tokens may not have expired yet: one retired at RetiredAt is kept until RetiredAt +
    /// MaxTtlSeconds. Never a private parameter.
    /// </summary>
    public string JwksJson(DateTimeOffset now)
    {
        var maxTtl = TimeSpan.FromSeconds(options.Value.MaxTtlSeconds);
        var keys = _keys.Value
            .Where(k => k.Options.Current || k.Options.RetiredAt is not { } retired || retired + maxTtl >= now)
            .OrderByDescending(k => k.Options.Current)
            .Select(k => new Dictionary<string, string>
            {
                ["kty"] = "EC",
                ["crv"] = "P-256",
                ["x"] = Base64UrlEncoder.Encode(k.PublicKey.Q.X!),
                ["y"] = Base64UrlEncoder.Encode(k.PublicKey.Q.Y!),
                ["kid"] = k.Options.KeyId,
                ["use"] = "sig",
                ["alg"] = "ES256",
            })
            .ToList();
        return JsonSerializer.Serialize(new Dictionary<string, object> { ["keys"] = keys });
    }

    public static ECDsa ImportP256(string pem)
    {
        var ecdsa = ECDsa.Create();
        try
        {
            ecdsa.ImportFromPem(pem);
            var curve = ecdsa.ExportParameters(false).Curve;
            var p256 = curve.IsNamed && ecdsa.KeySize == 256 &&
                       (curve.Oid.Value == "1.2.840.10045.3.1.7" || curve.Oid.FriendlyName is "nistP256" or "ECDSA_P256" or "secp256r1" or "prime256v1");
            if (!p256)
            {
                throw new CryptographicException("the key is not on curve P-256 (ES256)");
            }

            return ecdsa;
        }
        catch
        {
            ecdsa.Dispose();
            throw;
        }
    }

    public static bool HasPrivateKey(ECDsa ecdsa)
    {
        try
        {
            return ecdsa.ExportParameters(true).D is { Length: > 0 };
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static IReadOnlyList<LoadedKey> Load(TierTokenOptions options) =>
        options.SigningKeys.Select(key =>
        {
            var ecdsa = ImportP256(key.Pem);
            return new LoadedKey(key, new ECDsaSecurityKey(ecdsa) { KeyId = key.KeyId }, ecdsa.ExportParameters(false));
        }).ToList();

    private sealed record LoadedKey(TierTokenKeyOptions Options, ECDsaSecurityKey SecurityKey, ECParameters PublicKey);
}
