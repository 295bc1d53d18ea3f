using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Oversight.Signing.TransparencyLog;

/// <summary>
/// Client-side checks of the transparency log: inclusion and consistency proofs (RFC 9162
/// sections 2.1.3.2 and 2.1.4.2) and the signature of a checkpoint (a C2SP tlog-checkpoint
/// signed note with an ECDSA P-256 signature, signed-note type 0x02; see docs/attestation.md).
/// </summary>
/// <remarks>
/// Depends only on the base library and System.Security.Cryptography. The attestation service
/// (its checkpoint key hash), the client library and auditors all use this one class. It shares
/// no code with the service's proof generator: the tests check one against the other.
/// </remarks>
public static class ProofVerifier
{
    /// <summary>The length of a SHA-256 hash: every leaf, node and root hash.</summary>
    public const int HashLength = 32;

    /// <summary>The signed-note signature type of ECDSA (c2sp.org/signed-note: "0x02, ECDSA signatures").</summary>
    public const byte EcdsaSignatureType = 0x02;

    private const char EmDash = '\u2014';

    /// <summary>SHA-256(0x00 || leaf bytes): the hash a receipt's leaf_hash holds (in hex).</summary>
    public static byte[] LeafHash(ReadOnlySpan<byte> leafBytes)
    {
        var buffer = new byte[leafBytes.Length + 1];
        leafBytes.CopyTo(buffer.AsSpan(1));
        return SHA256.HashData(buffer);
    }

    /// <summary>
    /// True when <paramref name="proof"/> shows that <paramref name="leafHash"/> is leaf
    /// <paramref name="leafIndex"/> of the tree of <paramref name="treeSize"/> leaves whose root is <paramref name="rootHash"/>.
    /// </summary>
    public static bool VerifyInclusion(ReadOnlySpan<byte> leafHash, long leafIndex, long treeSize, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> rootHash)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (leafIndex < 0 || leafIndex >= treeSize || leafHash.Length != HashLength || rootHash.Length != HashLength)
        {
            return false;
        }

        var fn = leafIndex;
        var sn = treeSize - 1;
        var r = leafHash.ToArray();
        foreach (var p in proof)
        {
            if (sn == 0 || p is null || p.Length != HashLength)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                r = Node(p, r);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                r = Node(r, p);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && CryptographicOperations.FixedTimeEquals(r, rootHash);
    }

    /// <summary>
    /// True when <paramref name="proof"/> shows that the tree of <paramref name="firstSize"/> leaves
    /// with root <paramref name="firstRoot"/> is a prefix of the tree of <paramref name="secondSize"/>
    /// leaves with root <paramref name="secondRoot"/>. Equal sizes need an empty proof and equal
    /// roots; a first size of 0 needs an empty proof and the empty tree's root.
    /// </summary>
    public static bool VerifyConsistency(long firstSize, long secondSize, ReadOnlySpan<byte> firstRoot, ReadOnlySpan<byte> secondRoot, IReadOnlyList<byte[]> proof)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (firstSize < 0 || firstSize > secondSize || firstRoot.Length != HashLength || secondRoot.Length != HashLength)
        {
            return false;
        }

        if (firstSize == 0)
        {
            return proof.Count == 0 && CryptographicOperations.FixedTimeEquals(firstRoot, SHA256.HashData(ReadOnlySpan<byte>.Empty));
        }

        if (firstSize == secondSize)
        {
            return proof.Count == 0 && CryptographicOperations.FixedTimeEquals(firstRoot, secondRoot);
        }

        if (proof.Count == 0 || proof.Any(p => p is null || p.Length != HashLength))
        {
            return false;
        }

        var path = new List<byte[]>(proof.Count + 1);
        // A first tree that is a perfect subtree is its own first node: the proof omits it.
        if ((firstSize & (firstSize - 1)) == 0)
        {
            path.Add(firstRoot.ToArray());
        }

        path.AddRange(proof);
        var fn = firstSize - 1;
        var sn = secondSize - 1;
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }

        var fr = path[0];
        var sr = path[0];
        for (var i = 1; i < path.Count; i++)
        {
            var c = path[i];
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                fr = Node(c, fr);
                sr = Node(c, sr);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                sr = Node(sr, c);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && CryptographicOperations.FixedTimeEquals(fr, firstRoot) && CryptographicOperations.FixedTimeEquals(sr, secondRoot);
    }

    /// <summary>
    /// The 4-byte key hash of a signed-note ECDSA key (type 0x02): the first four bytes of
    /// SHA-256 over the DER SubjectPublicKeyInfo, read as a big-endian number.
    /// </summary>
    public static uint KeyHash(ReadOnlySpan<byte> subjectPublicKeyInfo) =>
        BinaryPrimitives.ReadUInt32BigEndian(SHA256.HashData(subjectPublicKeyInfo));

    /// <summary>
    /// The verifier key in the text form of golang.org/x/mod/sumdb/note and transparency-dev:
    /// <c>&lt;name&gt;+&lt;8 hex digits of the key hash&gt;+base64(0x02 || DER SubjectPublicKeyInfo)</c>.
    /// </summary>
    public static string VerifierKey(string keyName, ReadOnlySpan<byte> subjectPublicKeyInfo)
    {
        var typed = new byte[subjectPublicKeyInfo.Length + 1];
        typed[0] = EcdsaSignatureType;
        subjectPublicKeyInfo.CopyTo(typed.AsSpan(1));
        return $"{keyName}+{KeyHash(subjectPublicKeyInfo):x8}+{Convert.ToBase64String(typed)}";
    }

    /// <summary>
    /// Checks a checkpoint note against the log's public key and key name (normally its origin):
    /// a signature line with that name and key hash must verify (ECDSA P-256, SHA-256, ASN.1 DER
    /// signature over the note text); signatures of other keys are ignored, as signed notes
    /// require. On success returns the checkpoint the note commits to.
    /// </summary>
    public static bool TryVerifyCheckpoint(string note, string keyName, ECDsa publicKey, out Checkpoint? checkpoint)
    {
        ArgumentNullException.ThrowIfNull(note);
        ArgumentNullException.ThrowIfNull(publicKey);
        checkpoint = null;
        if (!TrySplitNote(note, out var text, out var signatureLines) || !TryParseCheckpoint(text, out var parsed))
        {
            return false;
        }

        var keyHash = KeyHash(publicKey.ExportSubjectPublicKeyInfo());
        var textBytes = Encoding.UTF8.GetBytes(text);
        var verified = false;
        foreach (var line in signatureLines)
        {
            // "— <key name> <base64(key hash || signature)>"
            var parts = line.Split(' ');
            if (parts.Length != 3 || parts[0] != EmDash.ToString() || parts[1] != keyName)
            {
                continue;
            }

            byte[] blob;
            try
            {
                blob = Convert.FromBase64String(parts[2]);
            }
            catch (FormatException)
            {
                return false;
            }

            if (blob.Length < 5 || BinaryPrimitives.ReadUInt32BigEndian(blob) != keyHash)
            {
                continue;
            }

            // A known key whose signature fails rejects the whole note (c2sp.org/signed-note).
            try
            {
                if (!publicKey.VerifyData(textBytes, blob.AsSpan(4), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence))
                {
                    return false;
                }
            }
            catch (CryptographicException)
            {
                return false;
            }

            verified = true;
        }

        if (verified)
        {
            checkpoint = parsed;
        }

        return verified;
    }

    /// <summary>Reads the note text of a checkpoint (origin, tree size, base64 root hash, optional extension lines).</summary>
    public static bool TryParseCheckpoint(string text, out Checkpoint? checkpoint)
    {
        checkpoint = null;
        if (!text.EndsWith('\n'))
        {
            return false;
        }

        var lines = text[..^1].Split('\n');
        if (lines.Length < 3 || lines.Any(l => l.Length == 0) || lines.Any(l => l.Any(c => c < 0x20)))
        {
            return false;
        }

        var size = lines[1];
        if (size.Length == 0 || size.Length > 19 || !size.All(char.IsAsciiDigit) || (size.Length > 1 && size[0] == '0') ||
            !long.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out var treeSize))
        {
            return false;
        }

        byte[] root;
        try
        {
            root = Convert.FromBase64String(lines[2]);
        }
        catch (FormatException)
        {
            return false;
        }

        if (root.Length != HashLength)
        {
            return false;
        }

        checkpoint = new Checkpoint(lines[0], treeSize, root);
        return true;
    }

    // A signed note: text ending in LF, a blank line, then signature lines each ending in LF.
    private static bool TrySplitNote(string note, out string text, out string[] signatureLines)
    {
        text = "";
        signatureLines = [];
        if (!note.EndsWith('\n'))
        {
            return false;
        }

        var split = note.LastIndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0)
        {
            return false;
        }

        text = note[..(split + 1)];
        signatureLines = note[(split + 2)..^1].Split('\n');
        return signatureLines.Length > 0 && signatureLines.All(l => l.Length > 0);
    }

    private static byte[] Node(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        Span<byte> buffer = stackalloc byte[1 + (2 * HashLength)];
        buffer[0] = 0x01;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[(1 + HashLength)..]);
        return SHA256.HashData(buffer);
    }
}

/// <summary>What a checkpoint commits to: the log's identity, a tree size and the root hash of that tree.</summary>
/// <param name="Origin">The log's identity (the note's first line).</param>
/// <param name="TreeSize">The number of leaves.</param>
/// <param name="RootHash">The 32-byte root hash of the tree of that many leaves.</param>
public sealed record Checkpoint(string Origin, long TreeSize, byte[] RootHash);
