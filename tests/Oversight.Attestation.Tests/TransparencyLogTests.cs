using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Oversight.Attestation.Log;
using Oversight.Attestation.V1;
using Oversight.Signing.TransparencyLog;
using Oversight.Testing;

namespace Oversight.Attestation.Tests;

/// <summary>Checkpoints, the log's public key and proofs over gRPC, checked with the client verifier and the reference tree.</summary>
public sealed class TransparencyLogTests
{
    [Fact]
    public async Task Checkpoint_IsPublicSignedAndCommitsToTheReferenceRoot_AndProofsVerifyAgainstIt()
    {
        await using var server = await AttestationServer.StartAsync();
        var provider = await server.RegisterProviderAsync();
        var empty = await server.Client.GetCheckpointAsync(new GetCheckpointRequest());
        var key = await server.Client.GetLogPublicKeyAsync(new GetLogPublicKeyRequest());
        using var publicKey = ECDsa.Create();
        publicKey.ImportFromPem(key.PublicKeyPem);
        Assert.Equal("localhost/oversight-attestation", key.KeyName);
        Assert.Equal(ProofVerifier.KeyHash(publicKey.ExportSubjectPublicKeyInfo()).ToString("x8"), key.KeyHash);
        Assert.True(ProofVerifier.TryVerifyCheckpoint(empty.Note, key.KeyName, publicKey, out var emptyCheckpoint));
        Assert.Equal(0L, emptyCheckpoint!.TreeSize);
        Assert.Equal(SHA256.HashData([]), emptyCheckpoint.RootHash);

        var first = await server.StreamAsync(provider, Enumerable.Range(0, 13).Select(_ => provider.Sign(provider.Attestation())).ToList());
        var at13 = await server.Client.GetCheckpointAsync(new GetCheckpointRequest());
        var second = await server.StreamAsync(provider, Enumerable.Range(0, 8).Select(_ => provider.Sign(provider.Attestation())).ToList());
        var at21 = await server.Client.GetCheckpointAsync(new GetCheckpointRequest());

        var leaves = await server.WithDbAsync(db => db.Ledger.AsNoTracking().OrderBy(e => e.LeafIndex).Select(e => e.LeafHash).ToListAsync());
        Assert.True(ProofVerifier.TryVerifyCheckpoint(at21.Note, key.KeyName, publicKey, out var checkpoint));
        Assert.Equal(("localhost/oversight-attestation", 21L), (checkpoint!.Origin, checkpoint.TreeSize));
        Assert.Equal(ReferenceMerkleTree.Root(leaves), checkpoint.RootHash);
        Assert.Equal(at21.RootHash.ToByteArray(), checkpoint.RootHash);
        Assert.StartsWith($"localhost/oversight-attestation\n21\n{Convert.ToBase64String(checkpoint.RootHash)}\n\n\u2014 localhost/oversight-attestation ", at21.Note);
        Assert.EndsWith("\n", at21.Note);
        // An idle log answers with the same note.
        Assert.Equal(at21.Note, (await server.Client.GetCheckpointAsync(new GetCheckpointRequest())).Note);

        var auditor = server.Host.Auth("auditor", provider.MarketplaceId);
        var receipts = first.Concat(second).ToList();
        foreach (var receipt in receipts)
        {
            var byIndex = await server.Client.GetInclusionProofAsync(new GetInclusionProofRequest { LeafIndex = receipt.LeafIndex }, auditor);
            Assert.Equal((receipt.LeafIndex, 21L, receipt.LeafHash), (byIndex.LeafIndex, byIndex.TreeSize, Convert.ToHexStringLower(byIndex.LeafHash.ToByteArray())));
            Assert.True(ProofVerifier.VerifyInclusion(Convert.FromHexString(receipt.LeafHash), receipt.LeafIndex, 21, byIndex.Hashes.Select(h => h.ToByteArray()).ToList(), checkpoint.RootHash));
            Assert.Equal(ReferenceMerkleTree.InclusionProof((int)receipt.LeafIndex, leaves), byIndex.Hashes.Select(h => h.ToByteArray()));
        }

        // By leaf hash, in the older tree of 13 leaves.
        Assert.True(ProofVerifier.TryVerifyCheckpoint(at13.Note, key.KeyName, publicKey, out var old));
        var byHash = await server.Client.GetInclusionProofAsync(new GetInclusionProofRequest { LeafHash = first[5].LeafHash.ToUpperInvariant(), TreeSize = 13 }, server.AuthFor(provider));
        Assert.Equal((5L, 13L), (byHash.LeafIndex, byHash.TreeSize));
        Assert.True(ProofVerifier.VerifyInclusion(Convert.FromHexString(first[5].LeafHash), 5, 13, byHash.Hashes.Select(h => h.ToByteArray()).ToList(), old!.RootHash));

        var consistency = await server.Client.GetConsistencyProofAsync(new GetConsistencyProofRequest { FirstTreeSize = 13, SecondTreeSize = 21 }, server.Host.Auth("service"));
        var proof = consistency.Hashes.Select(h => h.ToByteArray()).ToList();
        Assert.Equal(ReferenceMerkleTree.ConsistencyProof(13, leaves), proof);
        Assert.True(ProofVerifier.VerifyConsistency(13, 21, old.RootHash, checkpoint.RootHash, proof));
        Assert.False(ProofVerifier.VerifyConsistency(13, 21, MerkleLogTests.Flip(old.RootHash), checkpoint.RootHash, proof));
        for (var m = 0; m <= 21; m++)
        {
            var p = await server.Client.GetConsistencyProofAsync(new GetConsistencyProofRequest { FirstTreeSize = m, SecondTreeSize = 21 }, auditor);
            Assert.True(ProofVerifier.VerifyConsistency(m, 21, ReferenceMerkleTree.Root(leaves.Take(m).ToList()), checkpoint.RootHash, p.Hashes.Select(h => h.ToByteArray()).ToList()), $"consistency {m} -> 21");
        }
    }

    [Fact]
    public async Task Proofs_NeedATokenAndRefuseSizesBeyondTheLogPrecisely()
    {
        await using var server = await AttestationServer.StartAsync(sqlite: true);
        var provider = await server.RegisterProviderAsync();
        var receipts = await server.StreamAsync(provider, Enumerable.Range(0, 5).Select(_ => provider.Sign(provider.Attestation())).ToList());
        var auditor = server.Host.Auth("auditor", provider.MarketplaceId);

        await Assertions.Refused(StatusCode.Unauthenticated, () => server.Client.GetInclusionProofAsync(new GetInclusionProofRequest { LeafIndex = 0 }).ResponseAsync);
        await Assertions.Refused(StatusCode.Unauthenticated, () => server.Client.GetConsistencyProofAsync(new GetConsistencyProofRequest { FirstTreeSize = 1, SecondTreeSize = 2 }).ResponseAsync);
        await Assertions.Refused(StatusCode.OutOfRange, () => server.Client.GetInclusionProofAsync(new GetInclusionProofRequest { LeafIndex = 5 }, auditor).ResponseAsync);
        await Assertions.Refused(StatusCode.OutOfRange, () => server.Client.GetInclusionProofAsync(new GetInclusionProofRequest { LeafIndex = 0, TreeSize = 6 }, auditor).ResponseAsync);
        await Assertions.Refused(StatusCode.OutOfRange, () => server.Client.GetConsistencyProofAsync(new GetConsistencyProofRequest { FirstTreeSize = 1, SecondTreeSize = 6 }, auditor).ResponseAsync);
        await Assertions.Refused(StatusCode.NotFound, () => server.Client.GetInclusionProofAsync(new GetInclusionProofRequest { LeafHash = new string('a', 64) }, auditor).ResponseAsync);
        Assertions.NamesField(await Assertions.Refused(StatusCode.InvalidArgument, () => server.Client.GetInclusionProofAsync(new GetInclusionProofRequest { LeafIndex = 3, TreeSize = 3 }, auditor).ResponseAsync), "tree_size");
        Assertions.NamesField(await Assertions.Refused(StatusCode.InvalidArgument, () => server.Client.GetInclusionProofAsync(new GetInclusionProofRequest { LeafHash = "zz" }, auditor).ResponseAsync), "leaf_hash");
        Assertions.NamesField(await Assertions.Refused(StatusCode.InvalidArgument, () => server.Client.GetInclusionProofAsync(new GetInclusionProofRequest(), auditor).ResponseAsync), "leaf");
        Assertions.NamesField(await Assertions.Refused(StatusCode.InvalidArgument, () => server.Client.GetInclusionProofAsync(new GetInclusionProofRequest { LeafIndex = -1 }, auditor).ResponseAsync), "leaf_index");
        Assertions.NamesField(await Assertions.Refused(StatusCode.InvalidArgument, () => server.Client.GetConsistencyProofAsync(new GetConsistencyProofRequest { FirstTreeSize = 3, SecondTreeSize = 2 }, auditor).ResponseAsync), "second_tree_size");

        // Any authenticated role may read proofs; the checkpoint and key need no token at all.
        foreach (var role in new[] { "operator", "provider", "auditor", "compliance", "admin", "service" })
        {
            var proof = await server.Client.GetInclusionProofAsync(new GetInclusionProofRequest { LeafIndex = 4 }, server.Host.Auth(role, provider.MarketplaceId, provider.ProviderId));
            Assert.Equal(receipts[4].LeafHash, Convert.ToHexStringLower(proof.LeafHash.ToByteArray()));
        }

        Assert.Equal(5, (await server.Client.GetCheckpointAsync(new GetCheckpointRequest())).TreeSize);
    }

    [Fact]
    public async Task Checkpoint_SignatureAndKeyHash_VerifyWithOpenssl()
    {
        await using var server = await AttestationServer.StartAsync(sqlite: true);
        var provider = await server.RegisterProviderAsync();
        await server.SubmitAsync(provider, provider.Attestation());
        var checkpoint = await server.Client.GetCheckpointAsync(new GetCheckpointRequest());
        var key = await server.Client.GetLogPublicKeyAsync(new GetLogPublicKeyRequest());

        var note = checkpoint.Note;
        var split = note.LastIndexOf("\n\n", StringComparison.Ordinal);
        var text = note[..(split + 1)];
        var blob = Convert.FromBase64String(note[(split + 2)..^1].Split(' ')[2]);
        using var dir = new OpensslDirectory();
        var pub = dir.Write("pub.pem", System.Text.Encoding.ASCII.GetBytes(key.PublicKeyPem));
        var data = dir.Write("note.txt", System.Text.Encoding.UTF8.GetBytes(text));
        var sig = dir.Write("sig.der", blob[4..]);
        var spki = Path.Combine(dir.Path, "pub.der");

        var (ok, output) = await OpensslDirectory.Run("dgst", "-sha256", "-verify", pub, "-signature", sig, data);
        Assert.True(ok, output);
        Assert.True((await OpensslDirectory.Run("pkey", "-pubin", "-in", pub, "-outform", "DER", "-out", spki)).Ok);
        var (_, digest) = await OpensslDirectory.Run("dgst", "-sha256", "-r", spki);
        Assert.Equal(key.KeyHash, digest[..8]);
        Assert.Equal(key.KeyHash, Convert.ToHexStringLower(blob[..4]));

        var tampered = dir.Write("tampered.txt", System.Text.Encoding.UTF8.GetBytes(text.Replace("\n1\n", "\n2\n", StringComparison.Ordinal)));
        Assert.False((await OpensslDirectory.Run("dgst", "-sha256", "-verify", pub, "-signature", sig, tampered)).Ok);
    }
}
