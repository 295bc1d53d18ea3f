using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Attestation;
using Oversight.Benchmarks;
using Oversight.Common.V1;
using Oversight.Enforcement;
using Oversight.Enforcement.V1;
using Oversight.Kyc;
using Oversight.Kyc.V1;
using Oversight.Policy.Admission;
using Oversight.Policy.Counters;
using Oversight.Policy.Documents;
using Oversight.Testing;

// Authorize benchmark of the enforcement service (issue 6, item 12). Starts KYC, attestation and
// enforcement as separate hosts in this process (Kestrel on loopback, gRPC between them),
// enforcement on a real Redis; creates --accounts accounts in KYC and makes them known to
// enforcement (their counters initialised); preloads usage so that verdicts are mixed; then, in
// the same run against the same enforcement host, drives SimulationClock.GetClock (an empty
// method behind the same token check: the baseline) and Authorize from a bounded client loop, and prints requests/s and p50/p99.
//
//   dotnet run -c Release --project tests/Oversight.Benchmarks -- authorize [--seconds 20] [--accounts 10000] [--connections 50]
//
// --allow-only gives every account room (the ALLOW path alone) instead of the mixed population.
//
// Servers: Redis, PostgreSQL and RabbitMQ from OVERSIGHT_TEST_REDIS / _POSTGRES / _RABBITMQ when
// set (as tests/run.sh exports them); otherwise a private redis-server on a free loopback port,
// SQLite files in a temporary folder and each host's in-memory bus (nothing here needs events
// to cross hosts). Loopback only; bounded by --seconds and --max-requests per phase.
if (args.Length == 0 || args[0] != "authorize")
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project tests/Oversight.Benchmarks -- authorize [--seconds 20] [--accounts 10000] [--connections 50] [--max-requests 5000000] [--warmup 3] [--allow-only]");
    return 2;
}

var seconds = Option("--seconds", 20, 1, 600);
var accountCount = Option("--accounts", 10_000, 10, 200_000);
var connections = Option("--connections", 50, 1, 1_000);
var maxRequests = Option("--max-requests", 5_000_000, 1_000, 100_000_000);
var warmup = Option("--warmup", 3, 0, 60);
var mix = args.Contains("--allow-only") ? "allow-only" : "mixed";

var data = Directory.CreateTempSubdirectory("oversight-enforcement-bench-").FullName;
RedisServerInstance? privateRedis = null;
var setup = Stopwatch.StartNew();
try
{
    var (common, kyc, attestation, enforcement, servers) = await Settings.ForAsync(data);
    if (Environment.GetEnvironmentVariable(TestServers.RedisEnv) is not { Length: > 0 })
    {
        privateRedis = await RedisServerInstance.StartNewAsync();
        enforcement["Oversight:Enforcement:RedisConfiguration"] = privateRedis.Configuration;
        kyc["Oversight:Kyc:Redis:Configuration"] = privateRedis.Configuration;
        servers = $"Redis {privateRedis.Configuration} (private redis-server), " + servers;
    }
    else
    {
        servers = $"Redis {TestServers.RedisConfiguration} ({TestServers.RedisEnv}), " + servers;
    }

    await using var kycHost = await ServiceHost.StartAsync(Settings.Merge(common, kyc), b => b.AddKyc(), a => a.MapKyc(), data);
    await using var attestationHost = await ServiceHost.StartAsync(Settings.Merge(common, attestation), b => b.AddAttestation(), a => a.MapAttestation(), data);
    enforcement["Oversight:Enforcement:KycAddress"] = kycHost.GrpcAddress;
    enforcement["Oversight:Enforcement:AttestationAddress"] = attestationHost.GrpcAddress;
    await using var enforcementHost = await ServiceHost.StartAsync(Settings.Merge(common, enforcement), b => b.AddEnforcement(), a => a.MapEnforcement(), data);

    foreach (var host in new[] { kycHost, attestationHost, enforcementHost })
    {
        await Settings.WaitUntilReadyAsync(host);
    }

    var marketplace = "bench-" + Guid.NewGuid().ToString("N")[..8];
    var token = enforcementHost.Token("operator", marketplace);
    var population = new Population(accountCount, allowOnly: mix == "allow-only");
    Console.WriteLine($"machine: {Environment.ProcessorCount} cores, load average {LoadAverage()} (other processes share these cores: compare the two phases, not runs)");
    Console.WriteLine($"servers: {servers}");
    Console.WriteLine($"hosts: KYC {kycHost.GrpcAddress}, attestation {attestationHost.GrpcAddress}, enforcement {enforcementHost.GrpcAddress} (all in this process)");

    // Accounts: created in KYC, then known to enforcement (GetUsage confirms each with KYC and
    // initialises its counters by a rebuild from the, empty, ledger).
    var operatorAuth = new Metadata { { "Authorization", $"Bearer {token}" } };
    var kycClient = new KycTiering.KycTieringClient(kycHost.Channel);
    var enforcementClient = new ThresholdEnforcement.ThresholdEnforcementClient(enforcementHost.Channel);
    await Parallel.ForEachAsync(population.Accounts, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (account, ct) =>
    {
        await kycClient.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = account.Id }, operatorAuth, cancellationToken: ct);
        await enforcementClient.GetUsageAsync(new GetUsageRequest { MarketplaceId = marketplace, AccountId = account.Id }, operatorAuth, cancellationToken: ct);
    });
    Console.WriteLine($"setup: {accountCount} accounts created and known to enforcement in {setup.Elapsed.TotalSeconds:F1} s");

    // Usage: counted directly by the enforcement host's settlement step (as if attested), so
    // that some accounts are near or over the anonymous tier's 24-hour budget.
    var engine = enforcementHost.Services.GetRequiredService<AdmissionEngine>();
    var policy = DefaultPolicy.Document.Resolve(marketplace);
    var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    foreach (var account in population.Accounts.Where(a => a.PreloadedUnits > 0))
    {
        var usage = new UsageRecord("preload-" + account.Id, null, account.PreloadedUnits, 3_600, now - 60, Final: true);
        var settled = await engine.SettleAsync(policy, new AccountRef(marketplace, account.Id, account.Id), usage, now, policy.Document.CountedMarkRetentionSeconds);
        if (settled.Status != SettleStatus.Applied)
        {
            throw new InvalidOperationException($"preloading {account.Id}: {settled.Status}");
        }
    }

    // One check-only pass: every account's first notice (near limit, step-up) is sent now, not
    // while measuring, and each verdict class is confirmed.
    var primed = new System.Collections.Concurrent.ConcurrentDictionary<Verdict, int>();
    await Parallel.ForEachAsync(population.Accounts, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (account, ct) =>
    {
        var request = population.Request(marketplace, account, "prime-" + account.Id);
        request.CheckOnly = true;
        var response = await enforcementClient.AuthorizeAsync(request, operatorAuth, cancellationToken: ct);
        primed.AddOrUpdate(response.Verdict, 1, (_, n) => n + 1);
    });
    Console.WriteLine($"accounts: {population.Describe()}");
    Console.WriteLine($"check-only pass: {string.Join(", ", primed.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"))}; setup done in {setup.Elapsed.TotalSeconds:F1} s");
    Console.WriteLine($"load: {connections} connections (one HTTP/2 connection and one call in flight each), {warmup} s warm-up then {seconds} s per phase, at most {maxRequests:N0} requests per phase");
    Console.WriteLine();

    var channels = Enumerable.Range(0, connections)
        .Select(_ => GrpcChannel.ForAddress(enforcementHost.GrpcAddress, new GrpcChannelOptions { MaxRetryAttempts = 0, HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false } }))
        .ToArray();
    try
    {
        // The baseline: an empty method behind the same authentication as Authorize (a bearer
        // token validated per call). grpc.health.v1 Check is not empty: it runs the readiness
        // checks (database, Redis, bus) on every call.
        var clocks = channels.Select(c => new SimulationClock.SimulationClockClient(c)).ToArray();
        var baseline = await Load.RunAsync("SimulationClock.GetClock (empty method)", connections, warmup, seconds, maxRequests, async (worker, _) =>
        {
            await clocks[worker].GetClockAsync(new GetClockRequest(), operatorAuth);
            return "OK";
        });

        var clients = channels.Select(c => new ThresholdEnforcement.ThresholdEnforcementClient(c)).ToArray();
        var authorize = await Load.RunAsync($"Authorize (Redis, {mix} verdicts)", connections, warmup, seconds, maxRequests, async (worker, n) =>
        {
            var account = population.Accounts[(int)((((long)worker * 7919) + n) % population.Accounts.Count)];
            var response = await clients[worker].AuthorizeAsync(population.Request(marketplace, account, $"w{worker}-{n}"), operatorAuth);
            return response.Verdict.ToString();
        });

        Console.WriteLine();
        Console.WriteLine(Load.Header);
        Console.WriteLine(baseline.Line);
        Console.WriteLine(authorize.Line);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Authorize / empty method: throughput {authorize.RequestsPerSecond / baseline.RequestsPerSecond:P0}, p50 x{authorize.P50 / baseline.P50:F1}, p99 x{authorize.P99 / baseline.P99:F1}"));
        Console.WriteLine($"Authorize verdicts: {authorize.Outcomes}");
        Console.WriteLine($"load average at the end: {LoadAverage()}");
    }
    finally
    {
        foreach (var channel in channels)
        {
            channel.Dispose();
        }
    }

    return 0;
}
finally
{
    if (privateRedis is not null)
    {
        await privateRedis.DisposeAsync();
    }

    try
    {
        Directory.Delete(data, recursive: true);
    }
    catch (IOException)
    {
        // A temporary folder left for the OS.
    }
}

static string LoadAverage()
{
    try
    {
        return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
    }
    catch (IOException)
    {
        return "unknown";
    }
}

int Option(string name, int fallback, int min, int max)
{
    var i = Array.IndexOf(args, name);
    if (i < 0)
    {
        return fallback;
    }

    if (i + 1 >= args.Length || !int.TryParse(args[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
    {
        throw new ArgumentException($"{name} takes a whole number from {min} to {max}.");
    }

    return value;
}
