using System.Security.Cryptography;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Attestation.Data;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Hosting.Auth;
using Oversight.Signing;
using Oversight.Testing;

namespace Oversight.Attestation.Tests;

/// <summary>One attestation host on a database of its own (PostgreSQL unless asked for SQLite), with helpers.</summary>
public sealed class AttestationServer : IAsyncDisposable
{
    private readonly bool _keepData;

    private AttestationServer(ServiceHost host, string? connectionString, bool keepData)
    {
        Host = host;
        ConnectionString = connectionString;
        _keepData = keepData;
        Client = new WorkloadAttestation.WorkloadAttestationClient(host.Channel);
    }

    public ServiceHost Host { get; }
    public WorkloadAttestation.WorkloadAttestationClient Client { get; }

    /// <summary>The PostgreSQL database (null on SQLite, whose file is in the data folder).</summary>
    public string? ConnectionString { get; }

    /// <param name="sqlite">SQLite in the data folder instead of a new PostgreSQL database.</param>
    /// <param name="settings">Configuration on top of the defaults.</param>
    /// <param name="restartOf">Start on the database and data folder of this (stopped) server: a restart.</param>
    /// <param name="keepData">Keep the data folder (and so a SQLite database) when disposed, for a restart.</param>
    public static async Task<AttestationServer> StartAsync(bool sqlite = false, IDictionary<string, string?>? settings = null, AttestationServer? restartOf = null, bool keepData = false)
    {
        var dataDirectory = restartOf?.Host.DataDirectory ?? Path.Combine(Path.GetTempPath(), "oversight-attestation-tests", Guid.NewGuid().ToString("N"));
        var all = new Dictionary<string, string?>();
        string? connectionString = null;
        if (sqlite)
        {
            all["Oversight:Attestation:Database:Provider"] = "Sqlite";
        }
        else
        {
            connectionString = restartOf?.ConnectionString ?? await TestServers.CreatePostgresDatabaseAsync("attestation");
            all["Oversight:Attestation:Database:Provider"] = "Postgres";
            all["Oversight:Attestation:Database:ConnectionString"] = connectionString;
        }

        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        var host = await ServiceHost.StartAsync(all, b => b.AddAttestation(), a => a.MapAttestation(), dataDirectory);
        return new AttestationServer(host, connectionString, keepData);
    }

    public Metadata Operator(string marketplace) => Host.Auth(Roles.Operator, marketplace);

    /// <summary>Registers a provider with one fresh P-256 key and <paramref name="count"/> H100-SXM.</summary>
    public async Task<TestProvider> RegisterProviderAsync(string? marketplace = null, int count = 8, string model = "H100-SXM")
    {
        var provider = new TestProvider(marketplace ?? TestServers.UniqueId("mkt"), TestServers.UniqueId("prov"), "key-1", ECDsa.Create(ECCurve.NamedCurves.nistP256));
        await Client.RegisterProviderAsync(new RegisterProviderRequest
        {
            MarketplaceId = provider.MarketplaceId,
            ProviderId = provider.ProviderId,
            KeyId = provider.KeyId,
            PublicKeyPem = provider.Key.ExportSubjectPublicKeyInfoPem(),
            Inventory = { new AcceleratorInventory { AcceleratorModel = model, Count = count } },
        }, Operator(provider.MarketplaceId));
        return provider;
    }

    public Metadata AuthFor(TestProvider provider) => Host.Auth(Roles.Provider, provider.MarketplaceId, provider.ProviderId);

    public async Task<Receipt> SubmitAsync(TestProvider provider, UsageAttestation attestation, ECDsa? key = null, string? keyId = null) =>
        (await Client.SubmitAttestationAsync(provider.Sign(attestation, key, keyId), AuthFor(provider))).Receipt;

    /// <summary>Sends every request on one StreamAttestations call and returns the receipts in order.</summary>
    public async Task<List<Receipt>> StreamAsync(TestProvider provider, IEnumerable<SubmitAttestationRequest> requests, Metadata? auth = null)
    {
        using var call = Client.StreamAttestations(auth ?? AuthFor(provider));
        var reading = Task.Run(async () =>
        {
            var receipts = new List<Receipt>();
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                receipts.Add(call.ResponseStream.Current.Receipt);
            }

            return receipts;
        });
        try
        {
            foreach (var request in requests)
            {
                await call.RequestStream.WriteAsync(request);
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (Exception) when (!reading.IsCompletedSuccessfully)
        {
            // The server ended the call early: its status is the answer, thrown by the reader.
        }

        return await reading;
    }

    public async Task<T> WithDbAsync<T>(Func<AttestationDbContext, Task<T>> read)
    {
        await using var scope = Host.Services.CreateAsyncScope();
        return await read(scope.ServiceProvider.GetRequiredService<AttestationDbContext>());
    }

    /// <summary>What a refused submission must leave unchanged.</summary>
    public Task<StoreSnapshot> SnapshotAsync() => WithDbAsync(async db =>
    {
        var state = await db.LogState.AsNoTracking().SingleAsync();
        return new StoreSnapshot(
            await db.Ledger.CountAsync(),
            state.TreeSize,
            Convert.ToHexString(state.RootHash),
            await db.Outbox.CountAsync(),
            await db.ReviewItems.CountAsync());
    });

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        if (_keepData)
        {
            return;
        }

        try
        {
            Directory.Delete(Host.DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A SQLite file still held by a pooled connection: the temp folder is cleaned up later anyway.
        }
    }
}

public sealed record StoreSnapshot(int LedgerRows, long TreeSize, string RootHex, int OutboxRows, int ReviewRows);

/// <summary>A registered provider host: its ids and private key, and a sequence counter.</summary>
public sealed class TestProvider(string marketplaceId, string providerId, string keyId, ECDsa key)
{
    private long _sequence;

    public string MarketplaceId { get; } = marketplaceId;
    public string ProviderId { get; } = providerId;
    public string KeyId { get; } = keyId;
    public ECDsa Key { get; } = key;

    public long NextSequence() => Interlocked.Increment(ref _sequence);

    /// <summary>
    /// One hour on 8 H100-SXM at BF16 ending a minute ago, signed now, at 30 % utilisation:
    /// 8 x 989 x 3600 x 0.3 = 8,544,960 units.
    /// </summary>
    public UsageAttestation Attestation(string? accountId = null, long? sequence = null)
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var end = now.AddMinutes(-1);
        return new UsageAttestation
        {
            AttestationId = TestServers.UniqueId("att"),
            MarketplaceId = MarketplaceId,
            ProviderId = ProviderId,
            LeaseId = TestServers.UniqueId("lease"),
            AccountId = accountId ?? "acct-1",
            AcceleratorModel = "H100-SXM",
            AcceleratorCount = 8,
            IntervalStart = Timestamp.FromDateTimeOffset(end.AddHours(-1)),
            IntervalEnd = Timestamp.FromDateTimeOffset(end),
            Final = true,
            FlopUnits = 8_544_960,
            Precision = PrecisionClass.Bf16,
            WorkloadCommitment = Convert.ToHexStringLower(SHA256.HashData("salt:sha256:image"u8)),
            WorkloadClass = WorkloadClass.Training,
            SignedAt = Timestamp.FromDateTimeOffset(now),
            Sequence = sequence ?? NextSequence(),
        };
    }

    public SubmitAttestationRequest Sign(UsageAttestation attestation, ECDsa? key = null, string? keyId = null) => new()
    {
        Attestation = attestation,
        KeyId = keyId ?? KeyId,
        Signature = ByteString.CopyFrom(AttestationSignature.Sign(attestation, key ?? Key)),
    };
}
