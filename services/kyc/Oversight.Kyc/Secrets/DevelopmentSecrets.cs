using System.Security.Cryptography;
using System.Text.Json;
using Oversight.Hosting;

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
            var text = SecretFile.ReadOrCreate(Path.Combine(dataDirectory, FileName), () => JsonSerializer.Serialize(
                new DevelopmentSecrets("dev-1", NewKey(), "dev-1", NewKey(), "dev-1", NewKey(), "dev-1", NewKey()), Json));
            return Parse(text);
        }
    }

    private static DevelopmentSecrets Parse(string text) =>
        JsonSerializer.Deserialize<DevelopmentSecrets>(text, Json)
        ?? throw new InvalidOperationException($"{FileName} in the data folder is empty; delete it to generate new development secrets.");

    private static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
}
