using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Oversight.Attestation;
using Oversight.Attestation.Log;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Hosting.Auth;
using Oversight.Signing;
using Oversight.Signing.TransparencyLog;
using Oversight.Testing;

// Streaming-ingest benchmark of the attestation service (issue 5): hosts the service on
// loopback (SQLite in a temporary folder, or PostgreSQL when OVERSIGHT_TEST_POSTGRES is set),
// registers one provider, signs --count attestations up front, and streams them on one
// StreamAttestations call, --batch per client chunk with --window chunks in flight.
//
//   dotnet run -c Release --project tests/Oversight.Attestation.Benchmarks -- [--count 20000] [--batch 200] [--window 4]
var count = Option("--count", 20_000, 1, 1_000_000);
var batch = Option("--batch", 200, 1, 5_000);
var window = Option("--window", 4, 1, 64);

var data = Directory.CreateTempSubdirectory("oversight-attestation-bench-").FullName;
var settings = new Dictionary<string, string?>
{
    ["Logging:LogLevel:Default"] = "Warning",
    ["Logging:LogLevel:Oversight"] = "Warning",
    // The outbox publisher is still publishing when the host stops; its cancelled sends are not news.
    ["Logging:LogLevel:MassTransit"] = "None",
    ["Oversight:Attestation:StreamBatchSize"] = batch.ToString(CultureInfo.InvariantCulture),
};
string database;
if (Environment.GetEnvironmentVariable(TestServers.PostgresEnv) is { Length: > 0 })
{
    settings["Oversight:Attestation:Database:Provider"] = "Postgres";
    settings["Oversight:Attestation:Database:ConnectionString"] = await TestServers.CreatePostgresDatabaseAsync("attestation_bench");
    database = "PostgreSQL (" + TestServers.PostgresEnv + ")";
}
else
{
    settings["Oversight:Attestation:Database:Provider"] = "Sqlite";
    database = "SQLite in " + data;
}

await using var host = await ServiceHost.StartAsync(settings, b => b.AddAttestation(), a => a.MapAttestation(), data);
try
{
    var client = new WorkloadAttestation.WorkloadAttestationClient(host.Channel);
    using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    const string marketplace = "mkt-bench";
    const string providerId = "prov-bench";
    await client.RegisterProviderAsync(new RegisterProviderRequest
    {
        MarketplaceId = marketplace,
        ProviderId = providerId,
        KeyId = "key-1",
        PublicKeyPem = key.ExportSubjectPublicKeyInfoPem(),
        Inventory = { new AcceleratorInventory { AcceleratorModel = "H100-SXM", Count = 8 } },
    }, host.Auth(Roles.Operator, marketplace));

    Console.WriteLine($"signing {count} attestations ...");
    var now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
    var commitment = Convert.ToHexStringLower(SHA256.HashData("salt:sha256:image"u8));
    var requests = Enumerable.Range(1, count).AsParallel().AsOrdered().Select(i =>
    {
        var end = now.AddMinutes(-1);
        var attestation = new UsageAttestation
        {
            AttestationId = $"att-bench-{i:D7}",
            MarketplaceId = marketplace,
            ProviderId = providerId,
            LeaseId = $"lease-{i % 997}",
            AccountId = $"acct-{i % 101}",
            AcceleratorModel = "H100-SXM",
            AcceleratorCount = 8,
            IntervalStart = Timestamp.FromDateTimeOffset(end.AddHours(-1)),
            IntervalEnd = Timestamp.FromDateTimeOffset(end),
            Final = i % 4 == 0,
            FlopUnits = 8_544_960,
            Precision = PrecisionClass.Bf16,
            WorkloadCommitment = commitment,
            WorkloadClass = WorkloadClass.Training,
            SignedAt = Timestamp.FromDateTimeOffset(now),
            Sequence = i,
        };
        return new SubmitAttestationRequest { Attestation = attestation, KeyId = "key-1", Signature = ByteString.CopyFrom(AttestationSignature.Sign(attestation, key)) };
    }).ToList();

    Console.WriteLine($"streaming {count} attestations, {batch} per chunk, {window} chunks in flight, to {database} ...");
    var chunks = requests.Chunk(batch).ToList();
    var sentAt = new long[chunks.Count];
    var latencies = new double[chunks.Count];
    var receipts = new List<Receipt>(count);
    using var inFlight = new SemaphoreSlim(window);
    using var call = client.StreamAttestations(host.Auth(Roles.Provider, marketplace, providerId));
    var clock = Stopwatch.StartNew();
    var reading = Task.Run(async () =>
    {
        var chunk = 0;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            receipts.Add(call.ResponseStream.Current.Receipt);
            if (receipts.Count == Math.Min((chunk + 1) * batch, count))
            {
                latencies[chunk] = Stopwatch.GetElapsedTime(Volatile.Read(ref sentAt[chunk])).TotalMilliseconds;
                chunk++;
                inFlight.Release();
            }
        }
    });
    for (var i = 0; i < chunks.Count; i++)
    {
        await inFlight.WaitAsync();
        Volatile.Write(ref sentAt[i], Stopwatch.GetTimestamp());
        foreach (var request in chunks[i])
        {
            await call.RequestStream.WriteAsync(request);
        }
    }

    await call.RequestStream.CompleteAsync();
    await reading;
    var elapsed = clock.Elapsed;

    var accepted = receipts.Count(r => r.Outcome == Outcome.Accepted);
    var contiguous = receipts.Select(r => r.LeafIndex).SequenceEqual(Enumerable.Range(0, count).Select(i => (long)i));
    var checkpoint = await client.GetCheckpointAsync(new GetCheckpointRequest());
    var logKey = await client.GetLogPublicKeyAsync(new GetLogPublicKeyRequest());
    using var publicKey = ECDsa.Create();
    publicKey.ImportFromPem(logKey.PublicKeyPem);
    var signed = ProofVerifier.TryVerifyCheckpoint(checkpoint.Note, logKey.KeyName, publicKey, out var verified);
    Array.Sort(latencies);

    Console.WriteLine();
    Console.WriteLine($"database            {database}");
    Console.WriteLine($"processors          {Environment.ProcessorCount}");
    Console.WriteLine($"attestations        {count} sent, {accepted} accepted, leaf indexes contiguous: {contiguous}");
    Console.WriteLine($"elapsed             {elapsed.TotalSeconds:0.00} s");
    Console.WriteLine($"rate                {count / elapsed.TotalSeconds:0} attestations/s verified and stored");
    Console.WriteLine($"per-chunk latency   p50 {Percentile(latencies, 0.50):0.0} ms, p99 {Percentile(latencies, 0.99):0.0} ms ({chunks.Count} chunks of {batch})");
    Console.WriteLine($"checkpoint          tree size {checkpoint.TreeSize}, signature verifies: {signed && verified!.TreeSize == checkpoint.TreeSize}");
    return accepted == count && contiguous && signed ? 0 : 1;
}
finally
{
    await host.DisposeAsync();
    try
    {
        Directory.Delete(data, recursive: true);
    }
    catch (IOException)
    {
        // A SQLite file still held by a pooled connection: the temp folder is cleaned up later.
    }
}

static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

int Option(string name, int fallback, int min, int max)
{
    var i = Array.IndexOf(args, name);
    if (i < 0)
    {
        return fallback;
    }

    if (i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
    {
        return value;
    }

    Console.Error.WriteLine($"{name} takes a whole number from {min} to {max}.");
    Environment.Exit(2);
    return fallback;
}
