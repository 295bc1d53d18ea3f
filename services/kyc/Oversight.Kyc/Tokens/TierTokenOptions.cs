using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace Oversight.Kyc.Tokens;

/// <summary>
/// Section "Oversight:Kyc:TierTokens": the ES256 keys tier tokens are signed with, and their
/// lifetime. No key has a default outside Development (there one is generated once into the
/// data folder, <see cref="DevelopmentTierTokenKey"/>).
/// </summary>
public sealed class TierTokenOptions
{
    public const string Section = "Oversight:Kyc:TierTokens";

    /// <summary>
    /// "Oversight:Kyc:TierTokens:SigningKeys:{n}:KeyId", ":Pem", ":Current", ":RetiredAt". Exactly
    /// one is Current (it signs); the others were rotated out and stay in the JWKS so that tokens
    /// they signed still verify.
    /// </summary>
    public List<TierTokenKeyOptions> SigningKeys { get; set; } = [];

    /// <summary>The longest lifetime a token may have ("Oversight:Kyc:TierTokens:MaxTtlSeconds"); a longer ttl_seconds is capped.</summary>
    [Range(1, 86400)]
    public int MaxTtlSeconds { get; set; } = 300;

    /// <summary>The lifetime when the request gives none ("Oversight:Kyc:TierTokens:DefaultTtlSeconds"), at most MaxTtlSeconds.</summary>
    [Range(1, 86400)]
    public int DefaultTtlSeconds { get; set; } = 300;
}

public sealed class TierTokenKeyOptions
{
    /// <summary>The "kid" of tokens signed with it and of its JWKS entry.</summary>
    public string KeyId { get; set; } = "";

    /// <summary>
    /// PEM of an EC P-256 key: PKCS#8 ("BEGIN PRIVATE KEY") for the current key; a rotated-out key
    /// may be given as its public key alone ("BEGIN PUBLIC KEY").
    /// </summary>
    public string Pem { get; set; } = "";

    /// <summary>True for the one key that signs new tokens.</summary>
    public bool Current { get; set; }

    /// <summary>
    /// When the key stopped signing (set it when rotating). The JWKS keeps it for MaxTtlSeconds
    /// more, until every token it signed has expired, then leaves it out; without it the key stays
    /// in the JWKS until it is removed from configuration.
    /// </summary>
    public DateTimeOffset? RetiredAt { get; set; }
}

/// <summary>Refuses to start with missing or unusable tier-token keys, naming the configuration key.</summary>
public sealed class TierTokenOptionsValidator : IValidateOptions<TierTokenOptions>
{
    public ValidateOptionsResult Validate(string? name, TierTokenOptions options)
    {
        var section = TierTokenOptions.Section;
        var failures = new List<string>();
        if (options.SigningKeys.Count == 0)
        {
            failures.Add($"{section}:SigningKeys is required: at least one {{ KeyId, Pem (PKCS#8 PEM of an EC P-256 private key), Current: true }}.");
            return ValidateOptionsResult.Fail(failures);
        }

        var current = options.SigningKeys.Count(k => k.Current);
        if (current != 1)
        {
            failures.Add($"{section}:SigningKeys must have exactly one key with Current: true (found {current}).");
        }

        for (var i = 0; i < options.SigningKeys.Count; i++)
        {
            var key = options.SigningKeys[i];
            var path = $"{section}:SigningKeys:{i}";
            if (string.IsNullOrWhiteSpace(key.KeyId) || key.KeyId.Length > 128)
            {
                failures.Add($"{path}:KeyId is required (1-128 characters).");
            }
            else if (options.SigningKeys.Count(k => k.KeyId == key.KeyId) > 1)
            {
                failures.Add($"{path}:KeyId '{key.KeyId}' is used by more than one key.");
            }

            if (key.Current && key.RetiredAt is not null)
            {
                failures.Add($"{path}:RetiredAt is set on the current key.");
            }

            try
            {
                using var ecdsa = TierTokenKeys.ImportP256(key.Pem);
                if (key.Current && !TierTokenKeys.HasPrivateKey(ecdsa))
                {
                    failures.Add($"{path}:Pem is a public key; the current key must be a PKCS#8 private key.");
                }
            }
            catch (Exception exception) when (exception is ArgumentException or CryptographicException)
            {
                failures.Add($"{path}:Pem is not a PEM EC P-256 key ({exception.Message.TrimEnd('.')}).");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
