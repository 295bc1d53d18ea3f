using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Oversight.Attestation.Log;
using Oversight.Signing.TransparencyLog;

namespace Oversight.Attestation.Tests;

/// <summary>Checkpoint notes: their format, signature and key hash, and the key's configuration.</summary>
public sealed class CheckpointTests
{
    private static CheckpointSigner Signer(ECDsa key, string origin = "oversight.example/log") =>
        new(Options.Create(new AttestationOptions { CheckpointOrigin = origin, CheckpointSigningKey = key.ExportPkcs8PrivateKeyPem() }));

    [Fact]
    public void Note_HasTheTlogCheckpointLinesAndOneEcdsaSignatureLine_ThatTheVerifierAccepts()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var signer = Signer(key);
        var root = SHA256.HashData("root"u8);

        var note = signer.Sign(42, root);

        var lines = note.Split('\n');
        Assert.Equal(["oversight.example/log", "42", Convert.ToBase64String(root), "", lines[4], ""], lines);
        Assert.StartsWith("\u2014 oversight.example/log ", lines[4]);
        var blob = Convert.FromBase64String(lines[4].Split(' ')[2]);
        Assert.Equal(SHA256.HashData(key.ExportSubjectPublicKeyInfo())[..4], blob[..4]);
        Assert.True(key.VerifyData(Encoding.UTF8.GetBytes(string.Join('\n', lines[..3]) + "\n"), blob[4..], HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        Assert.True(ProofVerifier.TryVerifyCheckpoint(note, "oversight.example/log", key, out var checkpoint));
        Assert.Equal(("oversight.example/log", 42L), (checkpoint!.Origin, checkpoint.TreeSize));
        Assert.Equal(root, checkpoint.RootHash);
        Assert.Equal($"oversight.example/log+{signer.KeyHash:x8}+{Convert.ToBase64String([0x02, .. key.ExportSubjectPublicKeyInfo()])}", signer.VerifierKey);
    }

    [Fact]
    public void Verifier_RejectsTamperedNotesOtherKeysAndOtherNames_AndIgnoresUnknownSignatures()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var signer = Signer(key);
        using var otherSigner = Signer(other);
        var note = signer.Sign(7, SHA256.HashData("r"u8));

        Assert.False(ProofVerifier.TryVerifyCheckpoint(note.Replace("\n7\n", "\n8\n", StringComparison.Ordinal), "oversight.example/log", key, out _));
        Assert.False(ProofVerifier.TryVerifyCheckpoint(note, "oversight.example/log", other, out _));
        Assert.False(ProofVerifier.TryVerifyCheckpoint(note, "oversight.example/other", key, out _));
        Assert.False(ProofVerifier.TryVerifyCheckpoint(note[..^1], "oversight.example/log", key, out _));
        Assert.False(ProofVerifier.TryVerifyCheckpoint("", "oversight.example/log", key, out _));

        // A witness's cosignature (an unknown key) is ignored; a known key's bad signature rejects the note.
        var otherLine = otherSigner.Sign(7, SHA256.HashData("r"u8)).Split('\n')[4];
        Assert.True(ProofVerifier.TryVerifyCheckpoint(note + otherLine.Replace("oversight.example/log", "witness.example/w1", StringComparison.Ordinal) + "\n", "oversight.example/log", key, out _));
        var badLine = note.Split('\n')[4];
        var blob = Convert.FromBase64String(badLine.Split(' ')[2]);
        blob[^1] ^= 1;
        var forged = note[..note.LastIndexOf("\u2014", StringComparison.Ordinal)] + $"\u2014 oversight.example/log {Convert.ToBase64String(blob)}\n";
        Assert.False(ProofVerifier.TryVerifyCheckpoint(forged, "oversight.example/log", key, out _));
    }

    [Fact]
    public void Sign_OnAnIdleLog_ReturnsTheSameNote_AndANewOneWhenTheTreeGrows()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var signer = Signer(key);
        var a = signer.Sign(3, new byte[32]);
        Assert.Equal(a, signer.Sign(3, new byte[32]));
        Assert.NotEqual(a, signer.Sign(4, new byte[32]));
    }

    [Theory]
    [InlineData("Production", null, "oversight.example/log", "CheckpointSigningKey")]
    [InlineData("Staging", "p384", "oversight.example/log", "CheckpointSigningKey")]
    [InlineData("Production", "public", "oversight.example/log", "CheckpointSigningKey")]
    [InlineData("Production", "p256", null, "CheckpointOrigin")]
    [InlineData("Production", "p256", "has space", "CheckpointOrigin")]
    public void Options_OutsideDevelopment_RequireAP256KeyAndAnOrigin(string environment, string? keyKind, string? origin, string named)
    {
        using var p256 = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var pem = keyKind switch
        {
            "p256" => p256.ExportPkcs8PrivateKeyPem(),
            "p384" => p384.ExportPkcs8PrivateKeyPem(),
            "public" => p256.ExportSubjectPublicKeyInfoPem(),
            _ => null,
        };
        using var services = Build(environment, new Dictionary<string, string?>
        {
            ["Oversight:Attestation:CheckpointSigningKey"] = pem,
            ["Oversight:Attestation:CheckpointOrigin"] = origin,
        });

        var e = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<AttestationOptions>>().Value);
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void Options_InDevelopment_MakeAKeyOnceAndKeepItInTheDataFolder()
    {
        var data = Directory.CreateTempSubdirectory("oversight-checkpoint-").FullName;
        try
        {
            string Key()
            {
                using var services = Build("Development", new Dictionary<string, string?> { ["Oversight:Hosting:DataDirectory"] = data });
                return services.GetRequiredService<CheckpointSigner>().PublicKeyPem;
            }

            Assert.Equal(Key(), Key());
            Assert.True(File.Exists(Path.Combine(data, DevelopmentCheckpointKey.FileName)));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    private static ServiceProvider Build(string environment, Dictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = environment });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Oversight:Hosting:DataDirectory"] = Path.Combine(Path.GetTempPath(), "oversight-checkpoint-options"),
            ["Oversight:Attestation:Database:Provider"] = "Sqlite",
            ["Oversight:Attestation:Database:ConnectionString"] = "Data Source=:memory:",
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddAttestation();
        return builder.Services.BuildServiceProvider();
    }
}
