using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Oversight.Hosting.Auth;

/// <summary>
/// The embedded default's own token-signing key (ES256), kept as a PEM file in the data
/// folder so that the token command and the running host agree. Never used in Production.
/// </summary>
public sealed class DevelopmentSigningKey
{
    public const string Issuer = "oversight-development";
    public const string FileName = "development-token-key.pem";

    public ECDsaSecurityKey Key { get; }

    private DevelopmentSigningKey(ECDsaSecurityKey key) => Key = key;

    public static DevelopmentSigningKey LoadOrCreate(string dataDirectory)
    {
        var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        ecdsa.ImportFromPem(SecretFile.ReadOrCreate(Path.Combine(dataDirectory, FileName), ecdsa.ExportPkcs8PrivateKeyPem));
        var keyId = Base64UrlEncoder.Encode(SHA256.HashData(ecdsa.ExportSubjectPublicKeyInfo()))[..16];
        return new DevelopmentSigningKey(new ECDsaSecurityKey(ecdsa) { KeyId = keyId });
    }

    /// <summary>Creates a caller token for the chosen role (the embedded default's "token" command).</summary>
    public string CreateToken(string audience, string role, string? marketplace, string? provider, string subject, TimeSpan lifetime, DateTimeOffset now)
    {
        var claims = new Dictionary<string, object>
        {
            [OversightClaims.Role] = role,
            [OversightClaims.Subject] = subject,
        };
        if (!string.IsNullOrEmpty(marketplace))
        {
            claims[OversightClaims.Marketplace] = marketplace;
        }

        if (!string.IsNullOrEmpty(provider))
        {
            claims[OversightClaims.Provider] = provider;
        }

        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = audience,
            Claims = claims,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime.AddSeconds(-5),
            Expires = now.UtcDateTime.Add(lifetime),
            SigningCredentials = new SigningCredentials(Key, SecurityAlgorithms.EcdsaSha256),
        };
        return new JsonWebTokenHandler().CreateToken(descriptor);
    }
}
