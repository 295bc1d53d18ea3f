using System.Security.Cryptography;
using System.Text.Json;

namespace Oversight.Kyc.Secrets;

/// <summary>
/// Development only: KYC's secrets generated once and kept in a file in the data folder,
/// so that a restarted embedded host can still decrypt what it encrypted. Never used
/// outside Development (there a missing secret stops the host).
/// </summary>
public sealed record DevelopmentSecrets(
    string PurposeKeyVersion,
    string PurposeKey,
    string PurposeHashKeyVersion,
    string PurposeHashKey,
    string BlindIndexKeyVersion,
    string BlindIndexKey,
    string SimulatedSecretId,
    string SimulatedSecret)
{
    public const string FileName = "kyc-development-secrets.json";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private static readonly Lock Gate = new();

    public static DevelopmentSecrets LoadOrCreate(string dataDirectory)
    {
        lock (Gate)
        {
            Directory.CreateDirectory(dataDirectory);
            var path = Path.Combine(dataDirectory, FileName);
            if (File.Exists(path))
            {
                return Read(path);
            }

            var created = new DevelopmentSecrets(
                "dev-1", NewKey(), "dev-1", NewKey(), "dev-1", NewKey(), "dev-1", NewKey());
            // Temporary file then move, so that two hosts starting at once never read half a file.
            var temporary = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
            File.WriteAllText(temporary, JsonSerializer.Serialize(created, Json));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            try
            {
                File.Move(temporary, path, overwrite: false);
                return created;
            }
            catch (IOException) when (File.Exists(path))
            {
                File.Delete(temporary);
                return Read(path);
            }
        }
    }

    private static DevelopmentSecrets Read(string path) =>
        JsonSerializer.Deserialize<DevelopmentSecrets>(File.ReadAllText(path), Json)
        ?? throw new InvalidOperationException($"{path} is empty; delete it to generate new development secrets.");

    private static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
}
