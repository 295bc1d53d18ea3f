using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Oversight.Kyc.Verification;

/// <summary>
/// The callback signature (DESIGN.md, Security): hex HMAC-SHA256 over the bytes
/// <c>"{timestamp_unix_seconds}." + payload</c>, computed on the raw payload exactly as
/// received, never on re-serialised protobuf or JSON.
/// </summary>
public static class CallbackSignature
{
    public static byte[] Compute(byte[] secret, long timestampUnixSeconds, ReadOnlySpan<byte> payload)
    {
        var prefix = Encoding.ASCII.GetBytes(timestampUnixSeconds.ToString(CultureInfo.InvariantCulture) + ".");
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, secret);
        hmac.AppendData(prefix);
        hmac.AppendData(payload);
        return hmac.GetHashAndReset();
    }

    public static string ComputeHex(byte[] secret, long timestampUnixSeconds, ReadOnlySpan<byte> payload) =>
        Convert.ToHexStringLower(Compute(secret, timestampUnixSeconds, payload));

    /// <summary>Constant-time comparison with a hex signature (case-insensitive); false for malformed hex.</summary>
    public static bool Verify(byte[] secret, long timestampUnixSeconds, ReadOnlySpan<byte> payload, string signatureHex)
    {
        var expected = Compute(secret, timestampUnixSeconds, payload);
        byte[] given;
        try
        {
            given = Convert.FromHexString(signatureHex ?? "");
        }
        catch (FormatException)
        {
            return false;
        }

        return given.Length == expected.Length && CryptographicOperations.FixedTimeEquals(given, expected);
    }
}
