using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Oversight.Signing.TransparencyLog;

namespace Oversight.Attestation.Log;

/// <summary>
/// Signs checkpoints: C2SP tlog-checkpoint notes (c2sp.org/tlog-checkpoint) with one ECDSA
/// P-256 signature of signed-note type 0x02 (c2sp.org/signed-note):
/// <code>
/// &lt;origin&gt;
/// &lt;tree size&gt;
/// &lt;base64 root hash&gt;
///
/// — &lt;origin&gt; base64(key hash (4 bytes, big-endian) || ASN.1 DER ECDSA signature)
/// </code>
/// The signature is ECDSA P-256 with SHA-256 over the note text (the first three lines, each
/// ending in LF); the key hash is SHA-256(DER SubjectPublicKeyInfo)[:4]; the key name is the
/// origin. This is what transparency-dev/witness and Sigstore's Rekor produce for ECDSA keys.
/// </summary>
public sealed class CheckpointSigner : IDisposable
{
    private readonly ECDsa _key;
    private readonly Lock _gate = new();
    private (long Size, byte[] Root, string Note)? _last;

    public CheckpointSigner(IOptions<AttestationOptions> options)
    {
        var settings = options.Value;
        Origin = settings.CheckpointOrigin ?? throw new InvalidOperationException($"{AttestationOptions.Section}:CheckpointOrigin is not set.");
        _key = ImportPrivateKey(settings.CheckpointSigningKey, out var error)
            ?? throw new InvalidOperationException($"{AttestationOptions.Section}:CheckpointSigningKey {error}");
        SubjectPublicKeyInfo = _key.ExportSubjectPublicKeyInfo();
        PublicKeyPem = _key.ExportSubjectPublicKeyInfoPem();
        KeyHash = ProofVerifier.KeyHash(SubjectPublicKeyInfo);
    }

    /// <summary>The first line of every checkpoint, and the key name on its signature line.</summary>
    public string Origin { get; }

    public string KeyName => Origin;

    public byte[] SubjectPublicKeyInfo { get; }

    public string PublicKeyPem { get; }

    public uint KeyHash { get; }

    /// <summary>The verifier key in note form: <c>name+hash+base64(0x02 || SPKI)</c>.</summary>
    public string VerifierKey => ProofVerifier.VerifierKey(KeyName, SubjectPublicKeyInfo);

    /// <summary>
    /// The signed note for a tree. ECDSA signatures are randomised, so the latest note is kept
    /// and returned again while the tree does not grow: callers polling an idle log see one note.
    /// </summary>
    public string Sign(long treeSize, byte[] rootHash)
    {
        lock (_gate)
        {
            if (_last is { } last && last.Size == treeSize && last.Root.AsSpan().SequenceEqual(rootHash))
            {
                return last.Note;
            }
        }

        var text = $"{Origin}\n{treeSize.ToString(CultureInfo.InvariantCulture)}\n{Convert.ToBase64String(rootHash)}\n";
        byte[] signature;
        lock (_gate)
        {
            signature = _key.SignData(Encoding.UTF8.GetBytes(text), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }

        var blob = new byte[4 + signature.Length];
        BinaryPrimitives.WriteUInt32BigEndian(blob, KeyHash);
        signature.CopyTo(blob, 4);
        var note = $"{text}\n\u2014 {KeyName} {Convert.ToBase64String(blob)}\n";
        lock (_gate)
        {
            if (_last is null || _last.Value.Size <= treeSize)
            {
                _last = (treeSize, rootHash.ToArray(), note);
            }
        }

        return note;
    }

    /// <summary>Reads a PKCS#8 PEM of an ECDSA P-256 private key; null and a reason for anything else.</summary>
    public static ECDsa? ImportPrivateKey(string? pem, out string error)
    {
        error = "";
        if (string.IsNullOrWhiteSpace(pem))
        {
            error = "is required: a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----) of an ECDSA P-256 key.";
            return null;
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            var parameters = key.ExportParameters(includePrivateParameters: false);
            if (key.KeySize != 256 || !parameters.Curve.IsNamed ||
                !(parameters.Curve.Oid.Value == "1.2.840.10045.3.1.7" || parameters.Curve.Oid.FriendlyName is "nistP256" or "ECDSA_P256" or "secp256r1"))
            {
                error = "must be a key on the P-256 curve (secp256r1).";
                key.Dispose();
                return null;
            }

            // A public key imports too, but cannot sign.
            key.ExportECPrivateKey();
            return key;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            error = "is not a PEM of an ECDSA P-256 private key (expected -----BEGIN PRIVATE KEY-----, PKCS#8).";
            key.Dispose();
            return null;
        }
    }

    public void Dispose() => _key.Dispose();
}
