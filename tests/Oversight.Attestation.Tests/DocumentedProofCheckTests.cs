using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Oversight.Signing.TransparencyLog;
using Oversight.Testing;

namespace Oversight.Attestation.Tests;

/// <summary>
/// docs/attestation.md gives auditors the two proof checks in Python ("Both proofs by hand"), to
/// check the log without any of Oversight's code. Run exactly as printed there, they must accept
/// every inclusion and consistency proof of RFC 9162 and refuse every proof with one thing wrong,
/// as the service's own <see cref="ProofVerifier"/> does.
/// </summary>
public sealed partial class DocumentedProofCheckTests
{
    [Fact]
    public async Task The_Python_proof_checks_in_the_docs_accept_every_proof_and_refuse_every_altered_one()
    {
        var random = new Random(9162);
        var cases = new List<Case?>();
        for (var size = 1; size <= 33; size++)
        {
            var leaves = Enumerable.Range(0, size).Select(_ => SHA256.HashData(BitConverter.GetBytes(random.NextInt64()))).ToList();
            var root = ReferenceMerkleTree.Root(leaves);
            for (var index = 0; index < size; index++)
            {
                var path = ReferenceMerkleTree.InclusionProof(index, leaves);
                cases.Add(Inclusion(true, leaves[index], index, size, path, root));
                cases.Add(Inclusion(false, leaves[(index + 1) % size], index, size, path, root, skipWhen: size == 1));
                cases.Add(Inclusion(false, leaves[index], index, size, path, Altered(root)));
                cases.Add(Inclusion(false, leaves[index], size, size, path, root));
                if (path.Count > 0)
                {
                    cases.Add(Inclusion(false, leaves[index], index, size, [.. path[..^1], Altered(path[^1])], root));
                    cases.Add(Inclusion(false, leaves[index], index, size, path[..^1], root));
                }

                // A true proof in the left subtree, passed off as one in the whole tree.
                var left = 1 << (int)Math.Log2(size - 1);
                if (size > 1 && index < left)
                {
                    cases.Add(Inclusion(false, leaves[index], index, size, path[..^1], ReferenceMerkleTree.Root(leaves.Take(left).ToList())));
                }
            }

            for (var first = 1; first < size; first++)
            {
                var firstRoot = ReferenceMerkleTree.Root(leaves.Take(first).ToList());
                var path = ReferenceMerkleTree.ConsistencyProof(first, leaves);
                cases.Add(Consistency(true, first, size, firstRoot, root, path));
                cases.Add(Consistency(false, first, size, Altered(firstRoot), root, path));
                cases.Add(Consistency(false, first, size, firstRoot, Altered(root), path));
                cases.Add(Consistency(false, first, size, firstRoot, root, [Altered(path[0]), .. path[1..]]));
                cases.Add(Consistency(false, first, size, firstRoot, root, path[..^1]));
            }
        }

        cases.RemoveAll(c => c is null);
        var valid = cases.Count(c => c is Case { Valid: true });
        // The service's own verifier agrees with every label: the cases are right.
        Assert.All(cases, c => Assert.Equal(c!.Valid, VerifiedInCSharp(c)));
        var checks = Path.Combine(Path.GetTempPath(), $"oversight-proof-checks-{Guid.NewGuid():N}");
        Directory.CreateDirectory(checks);
        try
        {
            File.WriteAllText(Path.Combine(checks, "docs_checks.py"), DocumentedPython());
            File.WriteAllText(Path.Combine(checks, "cases.json"), JsonSerializer.Serialize(cases, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
            File.WriteAllText(Path.Combine(checks, "run.py"), Runner);
            var (code, stdout, stderr) = await Processes.RunAsync("python3", ["run.py"], checks);

            Assert.True(code == 0, $"python3 run.py ({code}):\n{stdout}\n{stderr}");
            Assert.True(stdout.Trim() == $"{cases.Count} cases, {valid} accepted, {cases.Count - valid} refused, 0 wrong", stdout);
        }
        finally
        {
            Directory.Delete(checks, recursive: true);
        }
    }

    // Reads each case, calls the documented functions with bytes, and prints a count (and every wrong answer).
    private const string Runner = """
        import json
        from docs_checks import verify_inclusion, verify_consistency
        cases = json.load(open("cases.json"))
        wrong = accepted = 0
        for c in cases:
            b = bytes.fromhex
            if c["kind"] == "inclusion":
                got = verify_inclusion(b(c["leaf"]), c["index"], c["size"], [b(p) for p in c["path"]], b(c["root"]))
            else:
                got = verify_consistency(c["first"], c["size"], b(c["first_root"]), b(c["root"]), [b(p) for p in c["path"]])
            accepted += bool(got)
            if bool(got) != c["valid"]:
                wrong += 1
                print("WRONG", c)
        print(f"{len(cases)} cases, {accepted} accepted, {len(cases) - accepted} refused, {wrong} wrong")
        """;

    /// <summary>The python block of docs/attestation.md's "Both proofs by hand", as printed.</summary>
    private static string DocumentedPython()
    {
        var docs = File.ReadAllText(Repository.Path("docs", "attestation.md"));
        var section = docs.IndexOf("Both proofs by hand", StringComparison.Ordinal);
        Assert.True(section >= 0, "docs/attestation.md has no section \"Both proofs by hand\"");
        var block = PythonBlock().Match(docs, section);
        Assert.True(block.Success, "no ```python block after \"Both proofs by hand\" in docs/attestation.md");
        Assert.Contains("def verify_inclusion", block.Groups[1].Value);
        Assert.Contains("def verify_consistency", block.Groups[1].Value);
        return block.Groups[1].Value;
    }

    private static Case? Inclusion(bool valid, byte[] leaf, int index, int size, List<byte[]> path, byte[] root, bool skipWhen = false) =>
        skipWhen ? null : new Case("inclusion", valid, size, path.Select(Hex).ToList(), Hex(root)) { Leaf = Hex(leaf), Index = index };

    private static Case Consistency(bool valid, int first, int size, byte[] firstRoot, byte[] root, List<byte[]> path) =>
        new("consistency", valid, size, path.Select(Hex).ToList(), Hex(root)) { First = first, FirstRoot = Hex(firstRoot) };

    /// <summary>One proof to check, as run.py reads it (snake_case JSON, hashes in hex).</summary>
    private sealed record Case(string Kind, bool Valid, int Size, List<string> Path, string Root)
    {
        public string? Leaf { get; init; }

        public int? Index { get; init; }

        public int? First { get; init; }

        public string? FirstRoot { get; init; }
    }

    private static bool VerifiedInCSharp(Case c)
    {
        var path = c.Path.Select(Convert.FromHexString).ToList();
        return c.Kind == "inclusion"
            ? ProofVerifier.VerifyInclusion(Convert.FromHexString(c.Leaf!), c.Index!.Value, c.Size, path, Convert.FromHexString(c.Root))
            : ProofVerifier.VerifyConsistency(c.First!.Value, c.Size, Convert.FromHexString(c.FirstRoot!), Convert.FromHexString(c.Root), path);
    }

    private static byte[] Altered(byte[] hash)
    {
        var altered = (byte[])hash.Clone();
        altered[^1] ^= 0x01;
        return altered;
    }

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    [GeneratedRegex(@"```python\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex PythonBlock();
}
