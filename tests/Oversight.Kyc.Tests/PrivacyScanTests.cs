using System.Globalization;
using System.Text;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Oversight.Hosting.Auth;
using Oversight.Hosting.Outbox;
using Oversight.Kyc.V1;
using Oversight.Kyc.Verification;
using Oversight.Testing;
using StackExchange.Redis;

namespace Oversight.Kyc.Tests;

/// <summary>
/// A KYC deployment whose every trace can be read: its PostgreSQL database, its host's logs at
/// Debug level (a capturing logger provider in place of the console), its account cache in Redis,
/// and a RabbitMQ node of its own (so that every queue on it is the deployment's), with a tap
/// queue that keeps a copy of every event the deployment publishes.
/// </summary>
public sealed class PrivacyFixture : KycHostFixture
{
    public RabbitMqServerInstance Broker { get; private set; } = null!;
    public BrokerInspector Inspector { get; private set; } = null!;
    public CapturingLoggerProvider Logs { get; } = new();
    public string Prefix { get; } = "kycpriv" + Guid.NewGuid().ToString("N")[..8];
    public string TapQueue => Prefix + "-privacy-tap";

    protected override bool RecordEvents => false;

    protected override async Task BeforeHostStartsAsync()
    {
        Broker = await RabbitMqServerInstance.StartNewAsync();
        Inspector = new BrokerInspector(Broker);
        await Inspector.DeclareTapAsync(Prefix, TapQueue);
    }

    protected override Dictionary<string, string?> Settings()
    {
        var settings = base.Settings();
        settings["Oversight:Bus:Transport"] = "RabbitMq";
        settings["Oversight:Bus:RabbitMqUri"] = Broker.AmqpUri.ToString();
        settings["Oversight:Bus:EndpointPrefix"] = Prefix;
        settings["Logging:LogLevel:Default"] = "Debug";
        settings["Logging:LogLevel:Oversight"] = "Debug";
        settings["Logging:LogLevel:Microsoft"] = "Debug";
        return settings;
    }

    protected override void OverrideServices(IServiceCollection services)
    {
        services.RemoveAll<ILoggerProvider>();
        services.AddSingleton<ILoggerProvider>(Logs);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Broker.DisposeAsync();
    }

    /// <summary>Waits until every outbox row has been published (the tap then holds every event).</summary>
    public async Task OutboxDrainedAsync()
    {
        await EventuallyAsync(async () =>
        {
            await using var db = NewDbContext();
            return !await db.Set<OutboxMessage>().AnyAsync(m => m.PublishedAt == null);
        }, "the outbox to drain", 30);
    }

    /// <summary>
    /// Every place the deployment keeps or sends data, searched for the sample values: each row
    /// of each table (information_schema), each log entry (Debug and up), each message in each
    /// queue of the broker (the tap, consumer and error queues alike), each cached account.
    /// Returns the findings (empty when clean) and what was read, to show the search was not empty.
    /// </summary>
    public async Task<(IReadOnlyList<string> Findings, int Rows, int LogEntries, int Messages, IReadOnlyList<string> Queues)> ScanAsync(PrivacyScan scan, string marketplace)
    {
        await OutboxDrainedAsync();
        var rows = await DumpRowsAsync();
        var logs = Logs.Entries.ToList();
        var queues = await Inspector.QueuesAsync();
        var messages = await Inspector.MessagesAsync(queues);
        var cache = await CachedAccountsAsync(marketplace);
        var findings = scan.Find("database", rows)
            .Concat(scan.Find("log", logs))
            .Concat(scan.Find("queue", messages))
            .Concat(scan.Find("redis", cache))
            .ToList();
        return (findings, rows.Count, logs.Count, messages.Count, queues);
    }

    private static async Task<List<string>> CachedAccountsAsync(string marketplace)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(TestServers.RedisConfiguration);
        var server = redis.GetServers()[0];
        var database = redis.GetDatabase();
        var values = new List<string>();
        foreach (var key in server.Keys(pattern: $"ovs:kyc:*{marketplace}*"))
        {
            foreach (var entry in await database.HashGetAllAsync(key))
            {
                byte[] bytes = entry.Value!;
                values.Add($"{key} {entry.Name} {Encoding.UTF8.GetString(bytes)} {Convert.ToHexString(bytes)}");
            }
        }

        return values;
    }
}

/// <summary>
/// Privacy scans (issue 4, items 7 and 11): after erasure, and after a full scenario with known
/// sample personal data, none of it is in the database, the logs, the queues or the cache, in
/// plain, base64 or hex form.
/// </summary>
public class PrivacyScanTests(PrivacyFixture fixture) : IClassFixture<PrivacyFixture>
{
    private KycTiering.KycTieringClient Client => fixture.Client;

    [Fact]
    public async Task EraseAccount_ThePurposeTextCannotBeRecoveredFromDatabaseLogsOrMessages()
    {
        const string text = "Voice cloning study with recordings of Heidi Sample, heidi.sample@example.com, phone 555-0100-777";
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "erase-me");
        await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "erase-me", Category = PurposeCategory.Research, Text = text }, op);
        // The auditor reads it once: the text crosses the wire and must leave no trace in the logs.
        var read = await Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "erase-me", Reason = "pre-erasure review" }, fixture.Auth(Roles.Auditor, marketplace));
        Assert.Equal(text, read.Text);

        await Client.EraseAccountAsync(new EraseAccountRequest { MarketplaceId = marketplace, AccountId = "erase-me", Reason = "erasure request 44" }, fixture.Auth(Roles.Compliance, marketplace));

        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "erase-me", Reason = "after" }, fixture.Auth(Roles.Auditor, marketplace)));
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "erase-me", Category = PurposeCategory.Research, Text = text }, op));
        await using (var db = fixture.NewDbContext())
        {
            // Nothing left to decrypt: no data key, no ciphertext, no hash.
            Assert.False(await db.AccountKeys.AnyAsync(k => k.MarketplaceId == marketplace));
            Assert.False(await db.StatedPurposes.AnyAsync(p => p.MarketplaceId == marketplace));
        }

        var scan = new PrivacyScan(text, "Heidi Sample", "heidi.sample@example.com", "555-0100-777");
        var (findings, rows, logEntries, messages, queues) = await fixture.ScanAsync(scan, marketplace);

        Assert.Empty(findings);
        Assert.True(rows > 0 && logEntries > 0, $"{rows} rows, {logEntries} log entries read");
        Assert.Contains(fixture.TapQueue, queues);
        var tapped = (await fixture.Inspector.MessagesAsync([fixture.TapQueue])).Where(m => m.Contains(marketplace, StringComparison.Ordinal)).ToList();
        Assert.Contains(tapped, m => m.Contains("AccountErased", StringComparison.Ordinal));
        Assert.Contains(tapped, m => m.Contains("AccountTierChanged", StringComparison.Ordinal));
        Assert.True(messages >= tapped.Count);
    }

    [Fact]
    public async Task FullScenario_NoSamplePersonalDataInAnyTableLogQueueOrCache()
    {
        const string purpose = "Fine-tuning a triage model on notes about patient Erin Sample (born 1984-02-29), contact erin.sample@example.org";
        const string document = "AB-9988 776655";
        const string registry = "HRB 556677 Berlin";
        var (marketplace, op) = fixture.NewMarketplace();
        var compliance = fixture.Auth(Roles.Compliance, marketplace);
        var auditor = fixture.Auth(Roles.Auditor, marketplace);
        await fixture.CreateAsync(marketplace, op, "p1", "p2", "p3", "org1", "org2");

        await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "p1", Category = PurposeCategory.FineTuning, Text = purpose }, op);
        await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "org2", Category = PurposeCategory.CommercialInference, Text = purpose + " for Sample Robotics GmbH" }, op);
        await Client.ReadPurposeAsync(new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "p1", Reason = "ticket 1" }, auditor);

        // Identity: the vendor's document carries more than KYC keeps (name, birth date): ignored, never stored.
        var session1 = await fixture.StartIdentityAsync(marketplace, op, "p1");
        Assert.True((await Client.SubmitVerificationResultAsync(SignedJson(Member(session1, "e1", "approved") +
            $$""","document_number":"{{document}}","full_name":"Erin Sample","birth_date":"1984-02-29"}"""))).Applied);
        var session2 = await fixture.StartIdentityAsync(marketplace, op, "p2");
        await Client.SubmitVerificationResultAsync(SignedJson(Member(session2, "e2", "approved") + ""","document_number":"ab 9988-776655"}"""));
        // Refused callbacks carrying the same data: neither the error nor the logs may echo it.
        var session3 = await fixture.StartIdentityAsync(marketplace, op, "p3");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument,
            () => Client.SubmitVerificationResultAsync(SignedJson(Member(session3, "e3", "sure") + $$""","document_number":"{{document}}","full_name":"Erin Sample"}""")));
        var forged = SignedJson(Member(session3, "e4", "approved") + $$""","document_number":"{{document}}"}""");
        forged.Signature = new string('a', 64);
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.SubmitVerificationResultAsync(forged));

        // Organisation: registry id, beneficial owners by name in the vendor's extras.
        var org1 = await fixture.StartOrganisationAsync(marketplace, op, "org1");
        await Client.SubmitVerificationResultAsync(SignedJson(Member(org1, "o1", "approved") +
            $$""","kind":"organisation","registry_id":"{{registry}}","beneficial_owner_count":2,"legal_name":"Sample Robotics GmbH","owners":["Frank Owner","Grace Owner"]}"""));
        var org2 = await fixture.StartOrganisationAsync(marketplace, op, "org2");
        await Client.SubmitVerificationResultAsync(SignedJson(Member(org2, "o2", "approved") + $$""","kind":"organisation","registry_id":"hrb556677-berlin","beneficial_owner_count":2}"""));

        await Client.LinkAccountsAsync(new LinkAccountsRequest { MarketplaceId = marketplace, AccountIds = { "p3", "p1" }, Reason = "shared payment instrument, ticket 2" }, op);
        var token = await Client.IssueTierTokenAsync(new IssueTierTokenRequest { MarketplaceId = marketplace, AccountId = "p1", Audience = "provider-1" }, op);
        Assert.NotEmpty(token.Token);
        await Client.SuspendAccountAsync(new SuspendAccountRequest { MarketplaceId = marketplace, AccountId = "p3", Reason = "case 5" }, compliance);
        await Client.ReinstateAccountAsync(new ReinstateAccountRequest { MarketplaceId = marketplace, AccountId = "p3", Reason = "case 5 closed" }, compliance);
        await Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "p1" }, op);
        await Client.ListAuditEventsAsync(new ListAuditEventsRequest { MarketplaceId = marketplace }, auditor);
        await Client.EraseAccountAsync(new EraseAccountRequest { MarketplaceId = marketplace, AccountId = "org2", Reason = "erasure request 45" }, compliance);
        Assert.Equal(("p1", "organisation_verified"), ((await fixture.AccountAsync(marketplace, "p2")).ClusterRoot, (await fixture.AccountAsync(marketplace, "org1")).Tier.Id));
        await Client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "org1" }, op);

        string[] samples =
        [
            purpose, "Erin Sample", "erin.sample@example.org", "1984-02-29",
            document, "AB9988776655", registry, "HRB556677BERLIN",
            "Sample Robotics GmbH", "Frank Owner", "Grace Owner",
        ];
        var scan = new PrivacyScan(samples);
        // The search itself finds what it looks for, in each form.
        Assert.NotEmpty(scan.Find("self-check", [Convert.ToBase64String(Encoding.UTF8.GetBytes("xy" + purpose))]));
        Assert.NotEmpty(scan.Find("self-check", ["\\x" + Convert.ToHexStringLower(Encoding.UTF8.GetBytes(document))]));

        var (findings, rows, logEntries, messages, queues) = await fixture.ScanAsync(scan, marketplace);

        Assert.Empty(findings);
        Assert.True(rows > 30, $"only {rows} rows read");
        Assert.True(logEntries > 100, $"only {logEntries} log entries read");
        Assert.Contains(fixture.Logs.Entries, e => e.StartsWith("Debug ", StringComparison.Ordinal));
        Assert.True(messages > 10, $"only {messages} messages read");
        Assert.Contains(queues, q => q.StartsWith(fixture.Prefix, StringComparison.Ordinal) && q.Contains("policy-changed", StringComparison.Ordinal));
        // No message can have bypassed the queues read: every exchange on the node routes to one.
        var bindings = await fixture.Inspector.BindingsAsync();
        var unrouted = (await fixture.Inspector.ExchangesAsync())
            .Where(e => e.Length > 0 && !e.StartsWith("amq.", StringComparison.Ordinal) && bindings.All(b => b.Source != e))
            .ToList();
        Assert.Empty(unrouted);
    }

    private static string Member(string session, string eventId, string status) =>
        $$"""{"event_id":"{{session}}-{{eventId}}","session_ref":"{{session}}","status":"{{status}}","occurred_at":"{{Results.Time(DateTimeOffset.UtcNow)}}" """.TrimEnd();

    private SubmitVerificationResultRequest SignedJson(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return KycHostFixture.ToRequest(new SignedCallback("simulated", bytes, now,
            CallbackSignature.ComputeHex(Encoding.UTF8.GetBytes(fixture.Secret1), now, bytes), KycHostFixture.SecretId1));
    }
}
