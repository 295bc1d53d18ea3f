using System.Security.Cryptography;
using Oversight.Attestation.V1;

namespace Oversight.Signing;

/// <summary>
/// Signs and verifies attestations: ECDSA P-256 with SHA-256 over
/// <see cref="AttestationCanonicalForm"/>, signature in IEEE P1363 form (r || s, 64 bytes).
/// Depends only on the proto types and System.Security.Cryptography.
/// </summary>
public static class AttestationSignature
{
    /// <summary>The length of an IEEE P1363 P-256 signature: r and s, 32 bytes each.</summary>
    public const int SignatureLength = 64;

    // secp256r1 / prime256v1 / NIST P-256.
    private const string P256Oid = "1.2.840.10045.3.1.7";

    /// <summary>Signs the canonical bytes of <paramref name="attestation"/> with a P-256 private key.</summary>
    public static byte[] Sign(UsageAttestation attestation, ECDsa privateKey)
    {
        RequireP256(privateKey);
        return privateKey.SignData(AttestationCanonicalForm.Encode(attestation), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    /// <summary>True when <paramref name="signature"/> is a valid P1363 signature of <paramref name="canonicalBytes"/>.</summary>
    public static bool Verify(ReadOnlySpan<byte> canonicalBytes, ReadOnlySpan<byte> signature, ECDsa publicKey)
    {
        RequireP256(publicKey);
        if (signature.Length != SignatureLength)
        {
            return false;
        }

        try
        {
            return publicKey.VerifyData(canonicalBytes, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }
        catch (CryptographicException)
        {
            // Some platforms throw rather than answer false for r or s out of range (e.g. zero).
            return false;
        }
    }

    /// <summary>True when <paramref name="signature"/> signs the canonical bytes of <paramref name="attestation"/>.</summary>
    public static bool Verify(UsageAttestation attestation, ReadOnlySpan<byte> signature, ECDsa publicKey) =>
        Verify(AttestationCanonicalForm.Encode(attestation), signature, publicKey);

    /// <summary>
    /// Reads a SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----") holding an ECDSA key on
    /// P-256. Returns null and a reason for anything else (RSA, other curves, private keys, junk).
    /// </summary>
    public static ECDsa? TryImportP256PublicKey(string pem, out string error)
    {
        error = "";
        if (string.IsNullOrWhiteSpace(pem))
        {
            error = "is required: a SubjectPublicKeyInfo PEM of an ECDSA P-256 key.";
            return null;
        }

        PemFields fields;
        try
        {
            fields = PemEncoding.Find(pem);
        }
        catch (ArgumentException)
        {
            error = "is not PEM: expected '-----BEGIN PUBLIC KEY-----'.";
            return null;
        }

        if (!pem.AsSpan(fields.Label).SequenceEqual("PUBLIC KEY"))
        {
            error = $"must be a 'PUBLIC KEY' (SubjectPublicKeyInfo) PEM, not '{pem[fields.Label]}'.";
            return null;
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportSubjectPublicKeyInfo(Convert.FromBase64String(pem[fields.Base64Data]), out _);
            if (!IsP256(key))
            {
                error = "must be an ECDSA key on the P-256 curve (secp256r1); other curves are refused.";
                key.Dispose();
                return null;
            }

            return key;
        }
        catch (CryptographicException)
        {
            // An RSA or Ed25519 SubjectPublicKeyInfo lands here too.
            error = "must be an ECDSA P-256 SubjectPublicKeyInfo; this key is of another algorithm or malformed.";
            key.Dispose();
            return null;
        }
    }

    private static bool IsP256(ECDsa key)
    {
        var curve = key.ExportParameters(includePrivateParameters: false).Curve;
        return curve.IsNamed && (curve.Oid.Value == P256Oid || curve.Oid.FriendlyName is "nistP256" or "ECDSA_P256" or "secp256r1");
    }

    private static void RequireP256(ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.KeySize != 256 || !IsP256(key))
        {
            throw new ArgumentException("The key must be an ECDSA key on P-256.", nameof(key));
        }
    }
}
