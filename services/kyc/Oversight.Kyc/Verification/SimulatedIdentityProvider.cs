using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Oversight.Kyc.Verification;

/// <summary>One callback secret of a provider; two are active while a secret rotates.</summary>
public sealed class CallbackSecretOptions
{
    public string Id { get; set; } = "";

    /// <summary>The shared secret; its UTF-8 bytes are the HMAC key.</summary>
    public string Secret { get; set; } = "";
}

/// <summary>Section "Oversight:Kyc:IdentityProviders:simulated".</summary>
public sealed class SimulatedProviderOptions
{
    public const string Section = "Oversight:Kyc:IdentityProviders:simulated";

    /// <summary>
    /// On by default in Development; elsewhere only when set to true, and refused in
    /// Production (anyone holding its secret could approve identities).
    /// </summary>
    public bool? Enabled { get; set; }

    /// <summary>Active callback secrets ("Oversight:Kyc:IdentityProviders:simulated:Secrets:0:Id", ":Secret", ...).</summary>
    public List<CallbackSecretOptions> Secrets { get; set; } = [];
}

/// <summary>
/// The simulated identity provider for Development and tests: sessions are opened locally, and
/// results are whatever a holder of its callback secret signs (see <see cref="CreateSignedResult"/>).
/// Its payload is <see cref="VerificationPayload"/>.
/// </summary>
public sealed class SimulatedIdentityProvider(IOptions<SimulatedProviderOptions> options) : IIdentityVerificationProvider
{
    public const string ProviderName = "simulated";

    public string Name => ProviderName;

    public Task<VerificationSession> StartSessionAsync(VerificationSubject subject, CancellationToken cancellationToken) =>
        // No page to send the user to: the result arrives by a signed callback only.
        Task.FromResult(new VerificationSession("sim_" + RandomIds.Base32(24), ""));

    public byte[]? FindCallbackSecret(string secretId)
    {
        var secret = options.Value.Secrets.FirstOrDefault(s => s.Id == secretId && !string.IsNullOrEmpty(s.Secret));
        return secret is null ? null : Encoding.UTF8.GetBytes(secret.Secret);
    }

    public VerificationResult ParseResult(ReadOnlySpan<byte> payload) => VerificationPayload.Parse(payload);

    /// <summary>
    /// Builds a signed callback as the simulated provider would send it (tests, demos, a
    /// development CLI): the payload bytes and the hex signature over
    /// <c>"{timestamp}." + payload</c>.
    /// </summary>
    public static SignedCallback CreateSignedResult(string secretId, string secret, VerificationPayload.Document result, DateTimeOffset timestamp)
    {
        var payload = VerificationPayload.Serialize(result);
        var unix = timestamp.ToUnixTimeSeconds();
        return new SignedCallback(ProviderName, payload, unix, CallbackSignature.ComputeHex(Encoding.UTF8.GetBytes(secret), unix, payload), secretId);
    }
}

/// <summary>The fields of a SubmitVerificationResultRequest.</summary>
public sealed record SignedCallback(string Provider, byte[] Payload, long TimestampUnixSeconds, string Signature, string SecretId);

/// <summary>Random identifiers from the OS CSPRNG, in lower-case RFC 4648 base32 (no padding).</summary>
public static class RandomIds
{
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz234567";

    public static string Base32(int length)
    {
        // 32 divides 256, so taking each byte modulo 32 is unbiased.
        var bytes = RandomNumberGenerator.GetBytes(length);
        return string.Create(length, bytes, (chars, b) =>
        {
            for (var i = 0; i < chars.Length; i++)
            {
                chars[i] = Alphabet[b[i] % 32];
            }
        });
    }
}
