using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;

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
            Directory.CreateDirectory(dataDirectory);
            var path = Path.Combine(dataDirectory, FileName);
            if (!File.Exists(path))
            {
                using var created = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                // Temporary file then move, so that two hosts starting at once never read half a key.
                var temporary = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
                File.WriteAllText(temporary, created.ExportPkcs8PrivateKeyPem());
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                }

                try
                {
                    File.Move(temporary, path, overwrite: false);
                }
                catch (IOException) when (File.Exists(path))
                {
                    File.Delete(temporary);
                }
            }

            var pem = File.ReadAllText(path);
            using var ecdsa = TierTokenKeys.ImportP256(pem);
            var keyId = "dev-" + Base64UrlEncoder.Encode(SHA256.HashData(ecdsa.ExportSubjectPublicKeyInfo()))[..16];
            return new TierTokenKeyOptions { KeyId = keyId, Pem = pem, Current = true };
        }
    }
}
