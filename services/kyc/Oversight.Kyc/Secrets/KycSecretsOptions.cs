using Microsoft.Extensions.Options;

namespace Oversight.Kyc.Secrets;

/// <summary>
/// KYC's own secrets. Section "Oversight:Kyc:Secrets". None has a default outside
/// Development (DESIGN.md, Security); in Development the missing ones are generated once
/// and kept in the data folder (<see cref="DevelopmentSecrets"/>).
/// Keys are base64; every key is at least 32 bytes.
/// </summary>
public sealed class KycSecretsOptions
{
    public const string Section = "Oversight:Kyc:Secrets";

    /// <summary>
    /// Key-encryption keys for the per-account data keys, by version ("Oversight:Kyc:Secrets:PurposeKeys:{version}").
    /// Old versions stay listed so that data keys wrapped under them can still be unwrapped.
    /// </summary>
    public Dictionary<string, string> PurposeKeys { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The PurposeKeys version new data keys are wrapped under.</summary>
    public string? CurrentPurposeKeyVersion { get; set; }

    /// <summary>HMAC key of the purpose-text hash ("Oversight:Kyc:Secrets:PurposeHashKey:Version" and ":Key").</summary>
    public VersionedKey PurposeHashKey { get; set; } = new();

    /// <summary>HMAC key of identity-document blind indexes ("Oversight:Kyc:Secrets:BlindIndexKey:Version" and ":Key").</summary>
    public VersionedKey BlindIndexKey { get; set; } = new();
}

/// <summary>A key and the version stored next to everything made with it.</summary>
public sealed class VersionedKey
{
    public string? Version { get; set; }

    /// <summary>Base64, at least 32 bytes.</summary>
    public string? Key { get; set; }

    public bool IsSet => !string.IsNullOrWhiteSpace(Version) && !string.IsNullOrWhiteSpace(Key);

    public byte[] Bytes => Convert.FromBase64String(Key ?? "");
}

/// <summary>Refuses to start with a missing or malformed secret, naming its configuration key.</summary>
public sealed class KycSecretsValidator : IValidateOptions<KycSecretsOptions>
{
    public const int MinimumKeyBytes = 32;

    public ValidateOptionsResult Validate(string? name, KycSecretsOptions options)
    {
        var failures = new List<string>();
        var section = KycSecretsOptions.Section;
        if (options.PurposeKeys.Count == 0)
        {
            failures.Add($"{section}:PurposeKeys is required: at least one key-encryption key (version -> base64 of 32 bytes).");
        }

        foreach (var (version, key) in options.PurposeKeys)
        {
            if (DecodedLength(key) != 32)
            {
                failures.Add($"{section}:PurposeKeys:{version} must be base64 of exactly 32 bytes (AES-256).");
            }
        }

        if (string.IsNullOrWhiteSpace(options.CurrentPurposeKeyVersion))
        {
            failures.Add($"{section}:CurrentPurposeKeyVersion is required.");
        }
        else if (options.PurposeKeys.Count > 0 && !options.PurposeKeys.ContainsKey(options.CurrentPurposeKeyVersion))
        {
            failures.Add($"{section}:CurrentPurposeKeyVersion '{options.CurrentPurposeKeyVersion}' is not one of {section}:PurposeKeys.");
        }

        CheckVersioned(failures, $"{section}:PurposeHashKey", options.PurposeHashKey);
        CheckVersioned(failures, $"{section}:BlindIndexKey", options.BlindIndexKey);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void CheckVersioned(List<string> failures, string key, VersionedKey value)
    {
        if (string.IsNullOrWhiteSpace(value.Version))
        {
            failures.Add($"{key}:Version is required.");
        }

        if (string.IsNullOrWhiteSpace(value.Key))
        {
            failures.Add($"{key}:Key is required (base64, at least {MinimumKeyBytes} bytes).");
        }
        else if (DecodedLength(value.Key) < MinimumKeyBytes)
        {
            failures.Add($"{key}:Key must be base64 of at least {MinimumKeyBytes} bytes.");
        }
    }

    private static int DecodedLength(string? base64)
    {
        try
        {
            return string.IsNullOrWhiteSpace(base64) ? 0 : Convert.FromBase64String(base64).Length;
        }
        catch (FormatException)
        {
            return -1;
        }
    }
}
