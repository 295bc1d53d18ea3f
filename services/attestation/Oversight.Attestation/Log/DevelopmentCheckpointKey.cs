using System.Security.Cryptography;
using Oversight.Hosting;

namespace Oversight.Attestation.Log;

/// <summary>
/// Development only: the checkpoint-signing key made once and kept as a PEM file in the data
/// folder, so that a restarted embedded host signs with the same key. Never used outside
/// Development, where a missing key stops the host.
/// </summary>
public static class DevelopmentCheckpointKey
{
    public const string FileName = "attestation-checkpoint-key.pem";

    private static readonly Lock Gate = new();

    /// <summary>The PKCS#8 PEM kept in <paramref name="dataDirectory"/>, made on first use.</summary>
    public static string LoadOrCreate(string dataDirectory)
    {
        lock (Gate)
        {
            return SecretFile.ReadOrCreate(Path.Combine(dataDirectory, FileName), () =>
            {
                using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                return key.ExportPkcs8PrivateKeyPem();
            });
        }
    }
}
