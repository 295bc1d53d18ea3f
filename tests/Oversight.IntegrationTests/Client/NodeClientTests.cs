using System.Text.Json;
using Oversight.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Oversight.IntegrationTests.Client;

/// <summary>
/// A client in another language: tests/node-client/flow.js (Node, @grpc/grpc-js,
/// @grpc/proto-loader and node:crypto, with nothing from this repository but protos/) against the
/// embedded default started as a real process. Node and npm must be on the PATH: without them the
/// test fails, it does not skip. tests/run.sh installs the script's packages (npm ci); when they
/// are missing (dotnet test run by hand) the test installs them itself.
/// </summary>
public sealed class NodeClientTests(EmbeddedHostFixture host, ITestOutputHelper output) : IClassFixture<EmbeddedHostFixture>
{
    [Fact]
    public async Task NodeClient_CreatesAnAccount_RegistersAKey_Authorizes_SubmitsASignedAttestation_AndReadsTheVerdict()
    {
        var folder = await NodeClientFolderAsync();
        var marketplace = EmbeddedHostFixture.NewMarketplace("node");
        const string provider = "prov-node";
        var environment = new Dictionary<string, string>
        {
            ["OVERSIGHT_ADDRESS"] = $"127.0.0.1:{host.Process.GrpcPort}",
            ["OVERSIGHT_PROTOS"] = Path.Combine(Repository.Root, "protos"),
            ["OVERSIGHT_MARKETPLACE"] = marketplace,
            ["OVERSIGHT_PROVIDER"] = provider,
            ["OVERSIGHT_OPERATOR_TOKEN"] = await host.Process.CreateTokenAsync("operator", marketplace),
            ["OVERSIGHT_PROVIDER_TOKEN"] = await host.Process.CreateTokenAsync("provider", marketplace, provider),
        };

        var (code, stdout, stderr) = await Processes.RunAsync("node", ["flow.js"], folder, environment: environment);
        output.WriteLine(stdout);
        output.WriteLine(stderr);
        Assert.True(code == 0, $"node flow.js exited with {code}: {stderr}");

        var result = JsonDocument.Parse(stdout).RootElement;
        string Text(string name) => result.GetProperty(name).GetString()!;
        Assert.StartsWith("node-acct-", Text("account_id"));
        Assert.Equal("anonymous", Text("tier"));
        Assert.Equal("VERDICT_ALLOW_NEAR_LIMIT", Text("first_verdict"));
        Assert.Equal("19938240", Text("reserved_flop_units"));
        Assert.Equal(64, result.GetProperty("signature_length").GetInt32());
        // The service verified Node's P1363 signature over the canonical bytes Node built, and
        // hashed the same bytes into the log as Node did.
        Assert.Equal("OUTCOME_ACCEPTED", Text("outcome"));
        Assert.Equal(Text("local_leaf_hash"), Text("leaf_hash"));
        Assert.Equal("19938240", Text("counted_flop_units"));
        Assert.Equal("VERDICT_REQUIRE_STATED_PURPOSE", Text("next_verdict"));
        Assert.Equal("stated_purpose", Text("next_required_tier"));
        Assert.False(string.IsNullOrWhiteSpace(Text("next_message")));
    }

    private static readonly SemaphoreSlim InstallGate = new(1, 1);

    /// <summary>tests/node-client, its packages installed from its package-lock.json if they are not yet.</summary>
    private static async Task<string> NodeClientFolderAsync()
    {
        var folder = Path.Combine(Repository.Root, "tests", "node-client");
        await InstallGate.WaitAsync();
        try
        {
            if (!File.Exists(Path.Combine(folder, "node_modules", "@grpc", "grpc-js", "package.json")) ||
                !File.Exists(Path.Combine(folder, "node_modules", "@grpc", "proto-loader", "package.json")))
            {
                var (code, stdout, stderr) = await Processes.RunAsync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], folder);
                Assert.True(code == 0, $"npm ci in {folder} failed ({code}): {stdout} {stderr}");
            }
        }
        finally
        {
            InstallGate.Release();
        }

        return folder;
    }
}
