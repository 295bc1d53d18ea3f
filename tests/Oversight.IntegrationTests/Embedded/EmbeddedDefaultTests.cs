using System.Net.Sockets;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using Oversight.Common.V1;
using Xunit;

namespace Oversight.IntegrationTests.Embedded;

public sealed class EmbeddedDefaultTests
{
    private static readonly string[] V1Services =
    [
        "oversight.kyc.v1.KycTiering",
        "oversight.attestation.v1.WorkloadAttestation",
        "oversight.enforcement.v1.ThresholdEnforcement",
    ];

    [Fact]
    public async Task Help_PrintsTheCommands_AndStartsNothing()
    {
        var program = Path.Combine(AppContext.BaseDirectory, "oversight.dll");
        var work = Directory.CreateTempSubdirectory("oversight-help-").FullName;

        var (code, output, error) = await Oversight.Testing.Processes.RunAsync("dotnet", [program, "--help"], work);
        var (tokenCode, tokenOutput, _) = await Oversight.Testing.Processes.RunAsync("dotnet", [program, "token", "--help"], work);

        Assert.Equal(0, code);
        Assert.Empty(error);
        Assert.StartsWith("usage: oversight", output, StringComparison.Ordinal);
        Assert.Contains("oversight migrate", output, StringComparison.Ordinal);
        Assert.Contains("oversight token", output, StringComparison.Ordinal);
        Assert.Equal(0, tokenCode);
        Assert.StartsWith("usage: oversight token --role ROLE", tokenOutput, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(work)); // no data folder: nothing started
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Token_TakesTheDataFolderFromTheHostsConfiguration_AndEverySecretThereIsItsOwnersOnly()
    {
        await using var host = await EmbeddedProcess.StartAsync();
        var program = Path.Combine(AppContext.BaseDirectory, "oversight.dll");
        var elsewhere = Directory.CreateTempSubdirectory("oversight-token-").FullName;

        // From another folder, the host's data folder given as the host takes it: environment, or command line.
        var viaEnvironment = await Oversight.Testing.Processes.RunAsync("dotnet", [program, "token", "--role", "admin"], elsewhere,
            environment: new Dictionary<string, string> { ["Oversight__Hosting__DataDirectory"] = host.DataDirectory });
        var viaCommandLine = await Oversight.Testing.Processes.RunAsync("dotnet",
            [program, "token", "--role", "admin", $"--Oversight:Hosting:DataDirectory={host.DataDirectory}"], elsewhere);
        var badTtl = await Oversight.Testing.Processes.RunAsync("dotnet", [program, "token", "--role", "admin", "--ttl-minutes", "soon"], elsewhere);
        var misspelt = await Oversight.Testing.Processes.RunAsync("dotnet", [program, "token", "--role", "operator", "--marketplce", "demo"], elsewhere);
        var providerless = await Oversight.Testing.Processes.RunAsync("dotnet", [program, "token", "--role", "provider", "--marketplace", "demo"], elsewhere);
        var unknownRole = await Oversight.Testing.Processes.RunAsync("dotnet", [program, "token", "--role", "bogus", "--marketplace", "demo"], elsewhere);
        var badMarketplace = await Oversight.Testing.Processes.RunAsync("dotnet", [program, "token", "--role", "operator", "--marketplace", "bad id!"], elsewhere);

        Assert.Equal((0, 0), (viaEnvironment.Code, viaCommandLine.Code));
        Assert.Equal((2, 2, 2, 2, 2), (badTtl.Code, misspelt.Code, providerless.Code, unknownRole.Code, badMarketplace.Code));
        Assert.Contains("--role 'bogus' is not a role", unknownRole.Error, StringComparison.Ordinal);
        Assert.Contains("--marketplace 'bad id!' is not an id", badMarketplace.Error, StringComparison.Ordinal);
        Assert.Empty(badMarketplace.Output);
        Assert.Contains("--provider is required for role 'provider'", providerless.Error, StringComparison.Ordinal);
        Assert.Contains("--ttl-minutes must be a whole number", badTtl.Error, StringComparison.Ordinal);
        Assert.Contains("unknown option '--marketplce'", misspelt.Error, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(elsewhere)); // no key of its own made in a default folder
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{host.GrpcPort}");
        var enforcement = new Oversight.Enforcement.V1.ThresholdEnforcement.ThresholdEnforcementClient(channel);
        foreach (var token in new[] { viaEnvironment.Output.Trim(), viaCommandLine.Output.Trim() })
        {
            var versions = await enforcement.ListPolicyVersionsAsync(new Oversight.Enforcement.V1.ListPolicyVersionsRequest(), new Metadata { { "authorization", $"Bearer {token}" } });
            Assert.NotEmpty(versions.Versions);
        }

        // Whoever reads the token-signing key can sign an admin's token: the host's secrets are its user's only.
        string[] secrets = ["development-token-key.pem", "attestation-checkpoint-key.pem", "kyc-tier-token-key.pem", "kyc-development-secrets.json"];
        Assert.All(secrets, name => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(host.DataDirectory, name))));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void SecretFile_NarrowsASecretAnEarlierVersionLeftReadableByEveryone()
    {
        var folder = Path.Combine(Directory.CreateTempSubdirectory("oversight-secret-").FullName, "data");
        Oversight.Hosting.SecretFile.CreatePrivateDirectory(folder);
        var path = Path.Combine(folder, "key.pem");
        File.WriteAllText(path, "earlier");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var text = Oversight.Hosting.SecretFile.ReadOrCreate(path, () => "new");
        var made = Oversight.Hosting.SecretFile.ReadOrCreate(Path.Combine(folder, "made.pem"), () => "made");

        Assert.Equal(("earlier", "made"), (text, made));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(folder, "made.pem")));
        Assert.Equal(["key.pem", "made.pem"], Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(folder));
    }

    [Fact]
    public async Task KilledRightAfterSuspensions_EnforcementStillLearnsEveryOneAfterARestart()
    {
        // The in-memory bus loses what is queued at a crash, and what is published before its
        // consumers are connected: the outbox delivers the recent past again at each start.
        var data = Directory.CreateTempSubdirectory("oversight-crash-").FullName;
        const string Market = "crash";
        var accounts = Enumerable.Range(0, 30).Select(i => $"acct-{i}").ToArray();
        await using (var first = await EmbeddedProcess.StartAsync(dataDirectory: data))
        {
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{first.GrpcPort}");
            var kyc = new Oversight.Kyc.V1.KycTiering.KycTieringClient(channel);
            var operatorToken = Bearer(await first.CreateTokenAsync("operator", Market));
            var compliance = Bearer(await first.CreateTokenAsync("compliance", Market));
            foreach (var account in accounts)
            {
                await kyc.CreateAccountAsync(new Oversight.Kyc.V1.CreateAccountRequest { MarketplaceId = Market, AccountId = account }, operatorToken);
            }

            await Task.WhenAll(accounts.Select(async account =>
                await kyc.SuspendAccountAsync(new Oversight.Kyc.V1.SuspendAccountRequest { MarketplaceId = Market, AccountId = account, Reason = "crash test" }, compliance)));
        } // kill -9 at once

        await using var second = await EmbeddedProcess.StartAsync(dataDirectory: data);
        using var restarted = GrpcChannel.ForAddress($"http://127.0.0.1:{second.GrpcPort}");
        var enforcement = new Oversight.Enforcement.V1.ThresholdEnforcement.ThresholdEnforcementClient(restarted);
        var token = Bearer(await second.CreateTokenAsync("operator", Market));
        var verdicts = new Dictionary<string, Oversight.Common.V1.Verdict>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            foreach (var account in accounts)
            {
                var answer = await enforcement.AuthorizeAsync(new Oversight.Enforcement.V1.AuthorizeRequest
                {
                    MarketplaceId = Market,
                    AccountId = account,
                    LeaseId = $"lease-{account}",
                    AcceleratorModel = "H100-SXM",
                    AcceleratorCount = 1,
                    DurationSeconds = 60,
                    CheckOnly = true,
                }, token);
                verdicts[account] = answer.Verdict;
            }
        }
        while (verdicts.Values.Any(v => v != Oversight.Common.V1.Verdict.Deny) && DateTime.UtcNow < deadline && await Delay());
        Directory.Delete(data, recursive: true);

        Assert.All(accounts, account => Assert.Equal(Oversight.Common.V1.Verdict.Deny, verdicts[account]));

        static Metadata Bearer(string token) => new() { { "authorization", $"Bearer {token}" } };
        static async Task<bool> Delay()
        {
            await Task.Delay(500);
            return true;
        }
    }

    [Fact]
    public async Task KilledAndRestarted_KeepsTheReservationsOfRunningLeases()
    {
        // The counters are in memory: usage comes back from the ledger, holds from the data folder.
        var data = Directory.CreateTempSubdirectory("oversight-holds-").FullName;
        const string Market = "holds";
        static Oversight.Enforcement.V1.AuthorizeRequest Lease(string id, long flopUnits) => new()
        {
            MarketplaceId = Market,
            AccountId = "user-1",
            LeaseId = id,
            AcceleratorModel = "H100-SXM",
            AcceleratorCount = 1,
            DurationSeconds = 3600,
            FlopUnits = flopUnits,
        };
        Oversight.Enforcement.V1.AuthorizeResponse held;
        await using (var first = await EmbeddedProcess.StartAsync(dataDirectory: data))
        {
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{first.GrpcPort}");
            var token = new Metadata { { "authorization", $"Bearer {await first.CreateTokenAsync("operator", Market)}" } };
            await new Oversight.Kyc.V1.KycTiering.KycTieringClient(channel).CreateAccountAsync(new Oversight.Kyc.V1.CreateAccountRequest { MarketplaceId = Market, AccountId = "user-1" }, token);
            held = await new Oversight.Enforcement.V1.ThresholdEnforcement.ThresholdEnforcementClient(channel).AuthorizeAsync(Lease("big", 15_000_000), token);
            Assert.NotNull(held.Reservation);
            await Task.Delay(TimeSpan.FromSeconds(5)); // the holds are written every 2 s
        } // kill -9

        await using var second = await EmbeddedProcess.StartAsync(dataDirectory: data);
        using var restarted = GrpcChannel.ForAddress($"http://127.0.0.1:{second.GrpcPort}");
        var enforcement = new Oversight.Enforcement.V1.ThresholdEnforcement.ThresholdEnforcementClient(restarted);
        var again = new Metadata { { "authorization", $"Bearer {await second.CreateTokenAsync("operator", Market)}" } };
        var repeat = await enforcement.AuthorizeAsync(Lease("big", 15_000_000), again);
        var more = await enforcement.AuthorizeAsync(Lease("more", 10_000_000), again);
        Directory.Delete(data, recursive: true);

        Assert.True(repeat.Replayed);
        Assert.Equal(held.Reservation, repeat.Reservation);
        // 15,000,000 still held of the anonymous 20,000,000 a day: 10,000,000 more does not fit.
        Assert.Equal(Oversight.Common.V1.Verdict.RequireStatedPurpose, more.Verdict);
    }

    [Fact]
    public async Task Embedded_WithNoServerAtAnyDefaultPort_StartsAndAnswersHealthForEveryService()
    {
        AssertNothingListensAtDefaultPorts();
        await using var host = await EmbeddedProcess.StartAsync();
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{host.GrpcPort}");
        var health = new Health.HealthClient(channel);

        foreach (var service in V1Services.Prepend(""))
        {
            var reply = await health.CheckAsync(new HealthCheckRequest { Service = service });
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
        }

        using var http = new HttpClient();
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{host.HealthPort}/healthz/live")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{host.HealthPort}/healthz/ready")).StatusCode);
        var metrics = await http.GetStringAsync($"http://127.0.0.1:{host.HealthPort}/metrics");
        Assert.Contains("# TYPE", metrics);
        Assert.Contains("service_name=\"oversight\"", metrics); // not "unknown_service:..."

        foreach (var database in new[] { "kyc.db", "attestation.db", "enforcement.db" })
        {
            Assert.True(File.Exists(Path.Combine(host.DataDirectory, database)), $"{database} was not created in the data folder");
        }
    }

    [Fact]
    public async Task Metrics_CountEveryGrpcCallByMethodAndFinalStatus_WhichHttpMetricsCannotTell()
    {
        await using var host = await EmbeddedProcess.StartAsync();
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{host.GrpcPort}");
        var kyc = new Oversight.Kyc.V1.KycTiering.KycTieringClient(channel);
        var token = new Metadata { { "authorization", $"Bearer {await host.CreateTokenAsync("operator", "grpc-metrics")}" } };
        await kyc.CreateAccountAsync(new Oversight.Kyc.V1.CreateAccountRequest { MarketplaceId = "grpc-metrics", AccountId = "a1" }, token);
        for (var i = 0; i < 2; i++)
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => kyc.CreateAccountAsync(
                new Oversight.Kyc.V1.CreateAccountRequest { MarketplaceId = "grpc-metrics", AccountId = "not an id!" }, token).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        }

        using var http = new HttpClient();
        var metrics = await http.GetStringAsync($"http://127.0.0.1:{host.HealthPort}/metrics");
        string Count(string status) => System.Text.RegularExpressions.Regex.Match(metrics,
            $"(?m)^grpc_server_call_duration_seconds_count\\{{[^}}]*grpc_method=\"oversight.kyc.v1.KycTiering/CreateAccount\",grpc_status=\"{status}\"[^}}]*\\}} (\\d+)$").Groups[1].Value;
        Assert.Equal("1", Count("OK"));
        Assert.Equal("2", Count("INVALID_ARGUMENT"));
    }

    [Fact]
    public async Task A_second_host_on_the_same_data_folder_refuses_to_start_and_leaves_the_first_serving()
    {
        await using var first = await EmbeddedProcess.StartAsync();
        var program = Path.Combine(AppContext.BaseDirectory, "oversight.dll");
        var elsewhere = Directory.CreateTempSubdirectory("oversight-second-").FullName;

        // Other ports, the same folder: its counters and holds would be kept apart from the first's.
        var second = await Oversight.Testing.Processes.RunAsync("dotnet", [program], elsewhere, environment: new Dictionary<string, string>
        {
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["Oversight__Hosting__DataDirectory"] = first.DataDirectory,
            ["Oversight__Hosting__GrpcPort"] = Oversight.Testing.LoopbackPorts.Free().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Oversight__Hosting__HealthPort"] = Oversight.Testing.LoopbackPorts.Free().ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        Assert.Equal(1, second.Code);
        Assert.Contains($"the data folder {first.DataDirectory} is in use by another running Oversight host", second.Error, StringComparison.Ordinal);
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{first.GrpcPort}");
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest())).Status);
    }

    [Fact]
    public async Task Embedded_Reflection_ListsTheThreeV1Services()
    {
        await using var host = await EmbeddedProcess.StartAsync();
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{host.GrpcPort}");
        var reflection = new ServerReflection.ServerReflectionClient(channel);

        using var call = reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var listed = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();

        Assert.All(V1Services, service => Assert.Contains(service, listed));
        Assert.Contains("grpc.health.v1.Health", listed);
    }

    [Fact]
    public async Task Embedded_TokenCommand_GivesATokenTheHostAccepts_AndCallsWithoutOneAreRefused()
    {
        await using var host = await EmbeddedProcess.StartAsync();
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{host.GrpcPort}");
        var clock = new SimulationClock.SimulationClockClient(channel);

        var anonymous = await Assert.ThrowsAsync<RpcException>(() => clock.GetClockAsync(new GetClockRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);

        var token = await host.CreateTokenAsync("operator", "demo");
        var headers = new Metadata { { "Authorization", $"Bearer {token}" } };
        var reply = await clock.GetClockAsync(new GetClockRequest(), headers);
        Assert.False(reply.Simulated);
        Assert.InRange(reply.Now.ToDateTimeOffset(), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(5));

        var notAdmin = await Assert.ThrowsAsync<RpcException>(() =>
            clock.SetClockAsync(new SetClockRequest { Now = reply.Now }, headers).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, notAdmin.StatusCode);
    }

    private static bool Listens(int port)
    {
        using var client = new TcpClient();
        try
        {
            return client.ConnectAsync("127.0.0.1", port).Wait(TimeSpan.FromMilliseconds(300)) && client.Connected;
        }
        catch (AggregateException)
        {
            return false; // refused: nothing there
        }
    }

    private static void AssertNothingListensAtDefaultPorts()
    {
        // The test servers run on non-default ports, so that nothing passes by reaching a
        // default address by accident (DESIGN.md, Tests).
        foreach (var (port, name) in new[] { (5432, "PostgreSQL"), (5672, "RabbitMQ"), (6379, "Redis") })
        {
            Assert.False(Listens(port), $"Something listens at {name}'s default port {port}; stop it so this test can prove the embedded default needs no server.");
        }
    }
}
