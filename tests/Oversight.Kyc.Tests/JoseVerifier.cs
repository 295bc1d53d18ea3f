using System.Text.Json;
using System.Text.Json.Nodes;
using Oversight.Testing;

namespace Oversight.Kyc.Tests;

/// <summary>
/// Verifies tier tokens with Node's <c>jose</c> (v5, installed from npm into a temporary folder on
/// first use): a JWT library that shares no code with the service, as a marketplace or provider
/// would use it. Needs node and npm on the PATH.
/// </summary>
public static class JoseVerifier
{
    private const string Script = """
        const jose = require('jose');
        let input = '';
        process.stdin.on('data', d => input += d);
        process.stdin.on('end', async () => {
          const { jwks, checks } = JSON.parse(input);
          const keys = jose.createLocalJWKSet(jwks);
          const results = [];
          for (const c of checks) {
            try {
              const options = { audience: c.audience, algorithms: ['ES256'] };
              if (c.at) options.currentDate = new Date(c.at);
              const { payload, protectedHeader } = await jose.jwtVerify(c.token, keys, options);
              results.push({ ok: true, payload, header: protectedHeader });
            } catch (e) {
              results.push({ ok: false, code: e.code || String(e) });
            }
          }
          process.stdout.write(JSON.stringify(results));
        });
        """;

    private static readonly Lazy<Task<string>> Folder = new(InstallAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    public sealed record Check(string Token, string Audience, DateTimeOffset? At = null);

    /// <summary>ok with the verified payload and header, or the jose error code (e.g. ERR_JWT_EXPIRED).</summary>
    public sealed record Outcome(bool Ok, string? Code, JsonObject? Payload, JsonObject? Header);

    public static async Task<IReadOnlyList<Outcome>> VerifyAsync(string jwksJson, params Check[] checks)
    {
        var folder = await Folder.Value;
        var input = new JsonObject
        {
            ["jwks"] = JsonNode.Parse(jwksJson),
            ["checks"] = new JsonArray(checks.Select(c => (JsonNode)new JsonObject
            {
                ["token"] = c.Token,
                ["audience"] = c.Audience,
                ["at"] = c.At?.ToString("O"),
            }).ToArray()),
        };
        var (code, output, error) = await Processes.RunAsync("node", ["-e", Script], folder, input.ToJsonString());
        Assert.True(code == 0, $"node exited with {code}: {error}");
        return JsonNode.Parse(output)!.AsArray()
            .Select(r => new Outcome(r!["ok"]!.GetValue<bool>(), r["code"]?.GetValue<string>(), r["payload"]?.AsObject(), r["header"]?.AsObject()))
            .ToList();
    }

    private static async Task<string> InstallAsync()
    {
        var folder = Path.Combine(Path.GetTempPath(), "oversight-kyc-tests-jose5");
        if (File.Exists(Path.Combine(folder, "node_modules", "jose", "package.json")))
        {
            return folder;
        }

        Directory.CreateDirectory(folder);
        var (code, output, error) = await Processes.RunAsync("npm", ["install", "jose@5", "--no-audit", "--no-fund", "--loglevel=error"], folder, null);
        Assert.True(code == 0, $"npm install jose@5 failed ({code}): {output} {error}");
        return folder;
    }
}
