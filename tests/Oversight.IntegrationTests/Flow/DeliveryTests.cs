using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Oversight.Attestation;
using Oversight.Common.V1;
using Oversight.Contracts;
using Oversight.Enforcement;
using Oversight.Enforcement.Consumers;
using Oversight.Kyc;
using Oversight.Testing;
using RabbitMQ.Client;
using Xunit;
using Xunit.Abstractions;

namespace Oversight.IntegrationTests.Flow;

/// <summary>The durable outbox and idempotent consumers, through a real RabbitMQ.</summary>
public sealed class DeliveryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Outbox_WhenTheBrokerIsDownAtCommit_PublishesAfterItReturns_AndTheUsageCountsExactlyOnce()
    {
        // A broker of this test's own: it is stopped and started again.
        await using var broker = await RabbitMqServerInstance.StartNewAsync();
        await using var deployment = await Deployment.StartAsync(broker.AmqpUri);
        var flow = new MissionFlow(deployment.Target, deployment.Marketplace, Deployment.IdentitySecretId, Deployment.IdentitySecret, output.WriteLine);
        await flow.RegisterAndCreateAsync();
        var lease = await flow.AuthorizeAsync("lease-1", count: 1, seconds: 3600);
        Assert.Equal(Verdict.Allow, lease.Verdict);

        await broker.StopAsync();
        var receipt = await flow.AttestAsync("lease-1", count: 1, seconds: 3600, flopUnits: 1_000_000);
        Assert.Equal(Attestation.V1.Outcome.Accepted, receipt.Outcome);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(1, await UnpublishedAsync(deployment.AttestationDatabase, nameof(UsageAttested)));

        await broker.StartAsync();
        await flow.WaitForUsageAsync(1_000_000);
        await WaitUntilAsync(async () => await UnpublishedAsync(deployment.AttestationDatabase, nameof(UsageAttested)) == 0);
        await Task.Delay(TimeSpan.FromSeconds(1));
        await flow.WaitForUsageAsync(1_000_000);
    }

    [Fact]
    public async Task Deployment_StartedWhileTheBrokerIsDown_ServesAndDeliversOnceItComesUp()
    {
        // As after a cluster restart where the services come up before RabbitMQ: they must start,
        // decide, accept attestations, and deliver what waited once the broker is back.
        await using var broker = await RabbitMqServerInstance.StartNewAsync();
        await broker.StopAsync();
        await using var deployment = await Deployment.StartAsync(broker.AmqpUri);
        var flow = new MissionFlow(deployment.Target, deployment.Marketplace, Deployment.IdentitySecretId, Deployment.IdentitySecret, output.WriteLine);
        await flow.RegisterAndCreateAsync();
        var lease = await flow.AuthorizeAsync("lease-1", count: 1, seconds: 3600);
        Assert.Equal(Verdict.Allow, lease.Verdict);
        var receipt = await flow.AttestAsync("lease-1", count: 1, seconds: 3600, flopUnits: 1_000_000);
        Assert.Equal(Attestation.V1.Outcome.Accepted, receipt.Outcome);
        Assert.Equal(1, await UnpublishedAsync(deployment.AttestationDatabase, nameof(UsageAttested)));

        await broker.StartAsync();
        await flow.WaitForUsageAsync(1_000_000);
        await WaitUntilAsync(async () => await UnpublishedAsync(deployment.AttestationDatabase, nameof(UsageAttested)) == 0);
        await Task.Delay(TimeSpan.FromSeconds(1));
        await flow.WaitForUsageAsync(1_000_000);
    }

    [Fact]
    public async Task Usage_PublishedWhileNoQueueIsBoundForIt_WaitsInTheOutboxAndIsReportedWaitingUntilEnforcementDeclaresItsQueue()
    {
        // RabbitMQ drops a message that no queue is bound to receive, and confirms it all the same:
        // a first install whose enforcement has not started yet, or a broker that lost its state,
        // would lose the usage for good. Here enforcement is stopped and its queue deleted.
        await using var deployment = await Deployment.StartAsync();
        using var metrics = new OutboxMetricsReader(deployment.Attestation.Services);
        const string outbox = "outbox=attestation";
        var flow = new MissionFlow(deployment.Target, deployment.Marketplace, Deployment.IdentitySecretId, Deployment.IdentitySecret, output.WriteLine);
        await flow.RegisterAndCreateAsync();
        await deployment.RestartEnforcementAsync(async () =>
        {
            var queue = new KebabCaseEndpointNameFormatter(deployment.BusPrefix, includeNamespace: false).Consumer<UsageAttestedConsumer>();
            await DeleteQueueAsync(await TestServers.GetRabbitMqUriAsync(), queue);
            var receipt = await flow.AttestAsync("lease-unreserved", count: 2, seconds: 1800, flopUnits: 700_000);
            Assert.Equal(Attestation.V1.Outcome.Accepted, receipt.Outcome);
            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.Equal(1, await UnpublishedAsync(deployment.AttestationDatabase, nameof(UsageAttested)));

            // What an operator alerts on: each refusal is kept in the row, and the gauges show the
            // event waiting, older and older; the broker's refusal is told from an outage.
            await WaitUntilAsync(async () => await AttemptsAsync(deployment.AttestationDatabase, nameof(UsageAttested)) >= 3);
            await WaitUntilAsync(() => Task.FromResult(
                metrics.Read("oversight.outbox.waiting", outbox) == 1 && metrics.Read("oversight.outbox.oldest_waiting_age", outbox) >= 1));
            Assert.True(metrics.Read("oversight.outbox.publish_failures", outbox + ",reason=not_routed") >= 3);
            Assert.Null(metrics.Read("oversight.outbox.publish_failures", outbox + ",reason=error"));
        });

        await flow.WaitForUsageAsync(700_000);
        await WaitUntilAsync(async () => await UnpublishedAsync(deployment.AttestationDatabase, nameof(UsageAttested)) == 0);
        await WaitUntilAsync(() => Task.FromResult(
            metrics.Read("oversight.outbox.waiting", outbox) == 0 && metrics.Read("oversight.outbox.oldest_waiting_age", outbox) == 0));
        Assert.True(metrics.Read("oversight.outbox.published", outbox) >= 1);
        await Task.Delay(TimeSpan.FromSeconds(1));
        await flow.WaitForUsageAsync(700_000);
    }

    [Fact]
    public void ConsumedEvents_AreExactlyTheEventsTheServicesConsume()
    {
        // Published as mandatory: one listed without a consumer would hold up its outbox for good,
        // and one consumed but not listed could be lost before its consumer's queue exists.
        var consumed = new[] { typeof(KycExtensions), typeof(AttestationExtensions), typeof(EnforcementExtensions) }
            .SelectMany(service => service.Assembly.GetTypes())
            .SelectMany(type => type.GetInterfaces())
            .Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IConsumer<>))
            .Select(i => i.GetGenericArguments()[0].Name)
            .Distinct()
            .Order();
        Assert.Equal(consumed, ConsumedEvents.Types.Select(t => t.Name).Order());
    }

    [Fact]
    public async Task UsageAttested_RedeliveredThroughRabbitMq_IsCountedOnce()
    {
        await using var deployment = await Deployment.StartAsync();
        var consumed = 0;
        var bus = deployment.Enforcement.Services.GetRequiredService<IBus>();
        using var _ = bus.ConnectConsumeMessageObserver(new CountingObserver<UsageAttested>(() => Interlocked.Increment(ref consumed)));
        var flow = new MissionFlow(deployment.Target, deployment.Marketplace, Deployment.IdentitySecretId, Deployment.IdentitySecret, output.WriteLine);
        await flow.RegisterAndCreateAsync();
        await flow.AttestAsync("lease-unreserved", count: 2, seconds: 1800, flopUnits: 700_000);
        await flow.WaitForUsageAsync(700_000);
        await WaitUntilAsync(() => Task.FromResult(Volatile.Read(ref consumed) == 1));

        // As if the publisher had crashed between publishing and marking the row: the same
        // message, with the same MessageId, goes through the broker a second time.
        await ExecuteAsync(deployment.AttestationDatabase, "UPDATE outbox_messages SET \"PublishedAt\" = NULL");
        await WaitUntilAsync(() => Task.FromResult(Volatile.Read(ref consumed) == 2));

        await flow.WaitForUsageAsync(700_000);
    }

    private static async Task<long> UnpublishedAsync(string database, string type)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FROM outbox_messages WHERE \"PublishedAt\" IS NULL AND \"MessageType\" LIKE @type", connection);
        command.Parameters.AddWithValue("type", "%." + type);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<int> AttemptsAsync(string database, string type)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT coalesce(max(\"Attempts\"), 0) FROM outbox_messages WHERE \"MessageType\" LIKE @type", connection);
        command.Parameters.AddWithValue("type", "%." + type);
        return (int)(await command.ExecuteScalarAsync())!;
    }

    private static async Task DeleteQueueAsync(Uri broker, string queue)
    {
        var factory = new ConnectionFactory { Uri = broker };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeleteAsync(queue);
    }

    private static async Task ExecuteAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"condition not met within {seconds} s");
            }

            await Task.Delay(200);
        }
    }

    private sealed class CountingObserver<T>(Action onConsumed) : IConsumeMessageObserver<T>
        where T : class
    {
        public Task PreConsume(ConsumeContext<T> context) => Task.CompletedTask;

        public Task PostConsume(ConsumeContext<T> context)
        {
            onConsumed();
            return Task.CompletedTask;
        }

        public Task ConsumeFault(ConsumeContext<T> context, Exception exception) => Task.CompletedTask;
    }
}
