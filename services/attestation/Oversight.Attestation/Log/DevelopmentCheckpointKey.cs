using System.Security.Cryptography;

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
            Directory.CreateDirectory(dataDirectory);
            var path = Path.Combine(dataDirectory, FileName);
            if (File.Exists(path))
            {
                return File.ReadAllText(path);
            }

            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var pem = key.ExportPkcs8PrivateKeyPem();
            // Temporary file then move, so that two hosts starting at once never read half a key.
            var temporary = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
            File.WriteAllText(temporary, pem);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            try
            {
                File.Move(temporary, path, overwrite: false);
                return pem;
            }
            catch (IOException) when (File.Exists(path))
            {
                File.Delete(temporary);
                return File.ReadAllText(path);
            }
        }
    }
}
