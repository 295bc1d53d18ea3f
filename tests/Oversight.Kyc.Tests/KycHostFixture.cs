using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Grpc.Core;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Oversight.Contracts;
using Oversight.Hosting.Auth;
using Oversight.Hosting.Bus;
using Oversight.Hosting.Outbox;
using Oversight.Kyc.Data;
using Oversight.Kyc.V1;
using Oversight.Kyc.Verification;
using Oversight.Testing;

namespace Oversight.Kyc.Tests;

/// <summary>
/// One KYC host per test class, on its own PostgreSQL database, with the account cache on the
/// test Redis and explicitly configured secrets (two simulated-provider secrets, as during a
/// rotation). Tests in a class run one after another, and each uses its own marketplace id.
/// Events leaving the outbox are recorded by consumers on the host's in-memory bus.
/// </summary>
public class KycHostFixture : IAsyncLifetime
{
    public const string SecretId1 = "s1";
    public const string SecretId2 = "s2";
    public string Secret1 { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    public string Secret2 { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public ServiceHost Host { get; private set; } = null!;
    public string ConnectionString { get; private set; } = "";
    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), "oversight-kyc-tests", Guid.NewGuid().ToString("N"));
    public EventRecorder Events { get; } = new();

    public KycTiering.KycTieringClient Client => new(Host.Channel);

    /// <summary>The settings the host started with (its secrets included): another host on the same database starts from them.</summary>
    public IReadOnlyDictionary<string, string?> HostSettings { get; private set; } = new Dictionary<string, string?>();

    public virtual async Task InitializeAsync()
    {
        await BeforeHostStartsAsync();
        ConnectionString = await TestServers.CreatePostgresDatabaseAsync("kyc");
        HostSettings = Settings();
        Host = await StartHostAsync(new Dictionary<string, string?>(HostSettings));
    }

    public virtual async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A temp folder left behind is harmless.
        }
    }

    protected virtual Dictionary<string, string?> Settings() => new()
    {
        ["Oversight:Kyc:Database:Provider"] = "Postgres",
        ["Oversight:Kyc:Database:ConnectionString"] = ConnectionString,
        ["Oversight:Kyc:Redis:Configuration"] = TestServers.RedisConfiguration,
        ["Oversight:Kyc:Secrets:PurposeKeys:k1"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        ["Oversight:Kyc:Secrets:PurposeKeys:k2"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        ["Oversight:Kyc:Secrets:CurrentPurposeKeyVersion"] = "k2",
        ["Oversight:Kyc:Secrets:PurposeHashKey:Version"] = "h1",
        ["Oversight:Kyc:Secrets:PurposeHashKey:Key"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        ["Oversight:Kyc:Secrets:BlindIndexKey:Version"] = "b1",
        ["Oversight:Kyc:Secrets:BlindIndexKey:Key"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        ["Oversight:Kyc:IdentityProviders:simulated:Secrets:0:Id"] = SecretId1,
        ["Oversight:Kyc:IdentityProviders:simulated:Secrets:0:Secret"] = Secret1,
        ["Oversight:Kyc:IdentityProviders:simulated:Secrets:1:Id"] = SecretId2,
        ["Oversight:Kyc:IdentityProviders:simulated:Secrets:1:Secret"] = Secret2,
    };

    /// <summary>Runs before the database and host are made (e.g. a broker of the fixture's own).</summary>
    protected virtual Task BeforeHostStartsAsync() => Task.CompletedTask;

    /// <summary>Consumers that record the host's events on its bus; a fixture scanning queues turns them off.</summary>
    protected virtual bool RecordEvents => true;

    /// <summary>Last changes to the host's services (e.g. its log providers).</summary>
    protected virtual void OverrideServices(IServiceCollection services)
    {
    }

    public Task<ServiceHost> StartHostAsync(IDictionary<string, string?> settings) =>
        ServiceHost.StartAsync(
            settings,
            add: builder =>
            {
                builder.AddKyc();
                builder.Services.AddSingleton(Events);
                if (!RecordEvents)
                {
                    return;
                }

                builder.Services.AddBusRegistration(bus =>
                {
                    bus.AddConsumer<RecordAccountCreated>();
                    bus.AddConsumer<RecordAccountTierChanged>();
                    bus.AddConsumer<RecordAccountSuspended>();
                    bus.AddConsumer<RecordAccountReinstated>();
                    bus.AddConsumer<RecordAccountsLinked>();
                    bus.AddConsumer<RecordAccountErased>();
                });
            },
            map: app => app.MapKyc(),
            DataDirectory,
            OverrideServices);

    public Metadata Auth(string role, string? marketplace) => Host.Auth(role, marketplace);

    public KycDbContext NewDbContext() =>
        new(new DbContextOptionsBuilder<KycDbContext>().UseNpgsql(ConnectionString).Options);

    /// <summary>Row counts of every table of the database, found through information_schema.</summary>
    public async Task<Dictionary<string, long>> CountRowsAsync()
    {
        var counts = new Dictionary<string, long>();
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        foreach (var table in await TablesAsync(connection))
        {
            await using var command = new NpgsqlCommand($"SELECT count(*) FROM \"{table}\"", connection);
            counts[table] = (long)(await command.ExecuteScalarAsync())!;
        }

        return counts;
    }

    /// <summary>Every row of every table, as PostgreSQL's text form of the row (bytea as \x hex).</summary>
    public async Task<List<string>> DumpRowsAsync()
    {
        var rows = new List<string>();
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        foreach (var table in await TablesAsync(connection))
        {
            await using var command = new NpgsqlCommand($"SELECT t::text FROM \"{table}\" t", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                rows.Add(table + ": " + reader.GetString(0));
            }
        }

        return rows;
    }

    private static async Task<List<string>> TablesAsync(NpgsqlConnection connection)
    {
        var tables = new List<string>();
        await using var command = new NpgsqlCommand(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            tables.Add(reader.GetString(0));
        }

        return tables;
    }

    /// <summary>Outbox rows of one message type of one marketplace, deserialised, oldest first.</summary>
    public async Task<List<T>> OutboxEventsOfMarketplaceAsync<T>(string marketplaceId)
    {
        await using var db = NewDbContext();
        var rows = await db.Set<OutboxMessage>().AsNoTracking().Where(m => m.MessageType == typeof(T).FullName).OrderBy(m => m.Sequence).ToListAsync();
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        return rows.Select(r => JsonSerializer.Deserialize<T>(r.Payload, options)!)
            .Where(e => e!.GetType().GetProperty("MarketplaceId")?.GetValue(e) as string == marketplaceId)
            .ToList();
    }

    /// <summary>Outbox rows of one message type for one account, deserialised.</summary>
    public async Task<List<T>> OutboxEventsAsync<T>(string marketplaceId, string accountId)
    {
        await using var db = NewDbContext();
        var rows = await db.Set<OutboxMessage>().AsNoTracking().Where(m => m.MessageType == typeof(T).FullName).OrderBy(m => m.Sequence).ToListAsync();
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        return rows.Select(r => JsonSerializer.Deserialize<T>(r.Payload, options)!)
            .Where(e => e is not null && Matches(e, marketplaceId, accountId))
            .ToList();
    }

    public SubmitVerificationResultRequest Signed(VerificationPayload.Document result, DateTimeOffset? timestamp = null, string secretId = SecretId1, string? secret = null)
    {
        var signed = SimulatedIdentityProvider.CreateSignedResult(secretId, secret ?? (secretId == SecretId2 ? Secret2 : Secret1), result, timestamp ?? DateTimeOffset.UtcNow);
        return ToRequest(signed);
    }

    public static SubmitVerificationResultRequest ToRequest(SignedCallback signed) => new()
    {
        Provider = signed.Provider,
        Payload = Google.Protobuf.ByteString.CopyFrom(signed.Payload),
        TimestampUnixSeconds = signed.TimestampUnixSeconds,
        Signature = signed.Signature,
        SecretId = signed.SecretId,
    };

    private static bool Matches(object e, string marketplaceId, string accountId) =>
        e.GetType().GetProperty("MarketplaceId")?.GetValue(e) as string == marketplaceId &&
        e.GetType().GetProperty("AccountId")?.GetValue(e) as string == accountId;

    /// <summary>A new marketplace id and an operator client for it.</summary>
    public (string Marketplace, Metadata Operator) NewMarketplace()
    {
        var marketplace = TestServers.UniqueId("mkt");
        return (marketplace, Auth(Roles.Operator, marketplace));
    }

    /// <summary>Polls until <paramref name="condition"/> holds (events cross the bus asynchronously).</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, int timeoutSeconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what}.");
            }

            await Task.Delay(50);
        }
    }
}

/// <summary>Events the host published on its bus (proof that they left the outbox).</summary>
public sealed class EventRecorder
{
    public ConcurrentQueue<(Guid? MessageId, object Message)> Received { get; } = new();

    public IEnumerable<T> Of<T>(string marketplaceId) =>
        Received.Select(r => r.Message).OfType<T>().Where(m => m!.GetType().GetProperty("MarketplaceId")?.GetValue(m) as string == marketplaceId);
}

public sealed class RecordAccountCreated(EventRecorder recorder) : IConsumer<AccountCreated>
{
    public Task Consume(ConsumeContext<AccountCreated> context)
    {
        recorder.Received.Enqueue((context.MessageId, context.Message));
        return Task.CompletedTask;
    }
}

public sealed class RecordAccountTierChanged(EventRecorder recorder) : IConsumer<AccountTierChanged>
{
    public Task Consume(ConsumeContext<AccountTierChanged> context)
    {
        recorder.Received.Enqueue((context.MessageId, context.Message));
        return Task.CompletedTask;
    }
}

public sealed class RecordAccountSuspended(EventRecorder recorder) : IConsumer<AccountSuspended>
{
    public Task Consume(ConsumeContext<AccountSuspended> context)
    {
        recorder.Received.Enqueue((context.MessageId, context.Message));
        return Task.CompletedTask;
    }
}

public sealed class RecordAccountsLinked(EventRecorder recorder) : IConsumer<AccountsLinked>
{
    public Task Consume(ConsumeContext<AccountsLinked> context)
    {
        recorder.Received.Enqueue((context.MessageId, context.Message));
        return Task.CompletedTask;
    }
}

public sealed class RecordAccountErased(EventRecorder recorder) : IConsumer<AccountErased>
{
    public Task Consume(ConsumeContext<AccountErased> context)
    {
        recorder.Received.Enqueue((context.MessageId, context.Message));
        return Task.CompletedTask;
    }
}

public sealed class RecordAccountReinstated(EventRecorder recorder) : IConsumer<AccountReinstated>
{
    public Task Consume(ConsumeContext<AccountReinstated> context)
    {
        recorder.Received.Enqueue((context.MessageId, context.Message));
        return Task.CompletedTask;
    }
}
