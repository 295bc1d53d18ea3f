using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;
using Oversight.Hosting;

namespace Oversight.Kyc.Tokens;

/// <summary>
/// Development only: the tier-token signing key generated once into the data folder
/// ("kyc-tier-token-key.pem", PKCS#8), so that tokens survive a restart of the embedded host.
/// Its key id is derived from the public key.
/// </summary>
public static class DevelopmentTierTokenKey
{
    public const string FileName = "kyc-tier-token-key.pem";

    private static readonly Lock Gate = new();

    public static TierTokenKeyOptions LoadOrCreate(string dataDirectory)
    {
        lock (Gate)
        {
            var pem = SecretFile.ReadOrCreate(Path.Combine(dataDirectory, FileName), () =>
            {
                using var created = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                return created.ExportPkcs8PrivateKeyPem();
            });
            using var ecdsa = TierTokenKeys.ImportP256(pem);
            var keyId = "dev-" + Base64UrlEncoder.Encode(SHA256.HashData(ecdsa.ExportSubjectPublicKeyInfo()))[..16];
            return new TierTokenKeyOptions { KeyId = keyId, Pem = pem, Current = true };
        }
    }
}
