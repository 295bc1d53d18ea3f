using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Oversight.Attestation.V1;
using Oversight.Signing;
using Oversight.Signing.TransparencyLog;
using Oversight.Testing;

namespace Oversight.Client.Tests.Signing;

/// <summary>
/// docs/attestation-test-vector.json, checked twice: by the signing kit (Oversight.Signing, which
/// the service, the client and provider hosts share), and by openssl, which shares no code with
/// it. openssl must be installed: if it is not, these tests fail rather than skip.
/// </summary>
public sealed class TestVectorTests
{
    // The expected canonical bytes, written out here as well as in the vector file.
    private const string ExpectedCanonicalBytes =
        "oversight.attestation.v1\n" +
        "attestation_id=att-0001-example\n" +
        "marketplace_id=mkt-example\n" +
        "provider_id=prov-example-01\n" +
        "lease_id=lease-42\n" +
        "account_id=acct-7\n" +
        "accelerator_model=H100-SXM\n" +
        "accelerator_count=8\n" +
        "interval_start=2026-01-02T03:00:00Z\n" +
        "interval_end=2026-01-02T04:00:00Z\n" +
        "final=true\n" +
        "flop_units=8544960\n" +
        "precision=BF16\n" +
        "workload_commitment=5ecd7f6b891ce99098cff9160b3419c2fdedd40495141e6e490148abfd97c6a7\n" +
        "workload_class=TRAINING\n" +
        "signed_at=2026-01-02T04:00:05Z\n" +
        "sequence=42\n";

    private static readonly JsonElement Vector = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "attestation-test-vector.json"))).RootElement;

    private static string Field(string name) => Vector.GetProperty(name).GetString()!;

    private static UsageAttestation VectorAttestation() =>
        JsonParser.Default.Parse<UsageAttestation>(Vector.GetProperty("attestation").GetRawText());

    [Fact]
    public void Vector_CanonicalBytes_AreWhatTheKitEncodes()
    {
        Assert.Equal(ExpectedCanonicalBytes, Field("canonical_bytes"));
        Assert.Equal(Encoding.UTF8.GetBytes(ExpectedCanonicalBytes), AttestationCanonicalForm.Encode(VectorAttestation()));
    }

    [Fact]
    public void Vector_Signature_VerifiesWithTheKitAndGivesTheLeafHash()
    {
        using var key = AttestationSignature.TryImportP256PublicKey(Field("public_key_pem"), out var error);
        Assert.True(key is not null, error);
        using var privateKey = ECDsa.Create();
        privateKey.ImportFromPem(Field("private_key_pem"));
        Assert.Equal(key!.ExportSubjectPublicKeyInfo(), privateKey.ExportSubjectPublicKeyInfo());

        var signature = Convert.FromHexString(Field("signature_hex"));
        Assert.True(AttestationSignature.Verify(VectorAttestation(), signature, key));
        Assert.Equal(Field("leaf_hash_hex"), Convert.ToHexStringLower(SHA256.HashData([0x00, .. Encoding.UTF8.GetBytes(ExpectedCanonicalBytes), .. signature])));
        Assert.Equal(Field("leaf_hash_hex"), Convert.ToHexStringLower(ProofVerifier.LeafHash([.. AttestationCanonicalForm.Encode(VectorAttestation()), .. signature])));

        var changed = VectorAttestation();
        changed.Sequence = 43;
        Assert.False(AttestationSignature.Verify(changed, signature, key));
    }

    [Fact]
    public async Task Vector_Signature_VerifiesWithOpenssl_AndTamperedBytesDoNot()
    {
        using var dir = new OpensslDirectory();
        var data = dir.Write("data", Encoding.UTF8.GetBytes(Field("canonical_bytes")));
        var pub = dir.Write("pub.pem", Encoding.ASCII.GetBytes(Field("public_key_pem")));
        var sig = dir.Write("sig.der", P1363ToDer(Convert.FromHexString(Field("signature_hex"))));
        var tampered = dir.Write("tampered", Encoding.UTF8.GetBytes(Field("canonical_bytes").Replace("sequence=42", "sequence=43", StringComparison.Ordinal)));

        var (ok, output) = await OpensslDirectory.Run("dgst", "-sha256", "-verify", pub, "-signature", sig, data);
        Assert.True(ok, output);
        Assert.Contains("Verified OK", output);
        var (bad, _) = await OpensslDirectory.Run("dgst", "-sha256", "-verify", pub, "-signature", sig, tampered);
        Assert.False(bad);
    }

    [Fact]
    public async Task Vector_BytesSignedByOpenssl_VerifyWithTheKit()
    {
        using var dir = new OpensslDirectory();
        var data = dir.Write("data", Encoding.UTF8.GetBytes(Field("canonical_bytes")));
        var priv = dir.Write("priv.pem", Encoding.ASCII.GetBytes(Field("private_key_pem")));
        var sig = Path.Combine(dir.Path, "sig.der");

        var (ok, output) = await OpensslDirectory.Run("dgst", "-sha256", "-sign", priv, "-out", sig, data);
        Assert.True(ok, output);

        using var key = AttestationSignature.TryImportP256PublicKey(Field("public_key_pem"), out _);
        Assert.True(AttestationSignature.Verify(VectorAttestation(), DerToP1363(await File.ReadAllBytesAsync(sig)), key!));
    }

    // DER: SEQUENCE { INTEGER r, INTEGER s }, minimal big-endian integers with a 0x00 before a set top bit.
    private static byte[] P1363ToDer(byte[] p1363)
    {
        static byte[] Integer(ReadOnlySpan<byte> value)
        {
            var trimmed = value.TrimStart((byte)0).ToArray();
            if (trimmed.Length == 0 || trimmed[0] >= 0x80)
            {
                trimmed = [0x00, .. trimmed];
            }

            return [0x02, (byte)trimmed.Length, .. trimmed];
        }

        byte[] body = [.. Integer(p1363.AsSpan(0, 32)), .. Integer(p1363.AsSpan(32, 32))];
        return [0x30, (byte)body.Length, .. body];
    }

    private static byte[] DerToP1363(byte[] der)
    {
        Assert.Equal(0x30, der[0]);
        var offset = 2;
        byte[] Next()
        {
            Assert.Equal(0x02, der[offset]);
            var length = der[offset + 1];
            var value = der.AsSpan(offset + 2, length).TrimStart((byte)0).ToArray();
            offset += 2 + length;
            return [.. new byte[32 - value.Length], .. value];
        }

        return [.. Next(), .. Next()];
    }
}
