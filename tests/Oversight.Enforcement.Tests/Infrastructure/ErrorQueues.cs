using MassTransit;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>
/// The RabbitMQ queues of a deployment's consumers and their error queues (MassTransit moves a
/// message that faulted to <c>&lt;queue&gt;_error</c>, declared when first needed), read with
/// passive declares: no management plugin needed.
/// </summary>
public static class ErrorQueues
{
    /// <summary>Every consumer of the three services (found by reflection, not a hand-made list).</summary>
    public static IReadOnlyList<Type> Consumers { get; } =
        new[] { typeof(EnforcementExtensions), typeof(Kyc.KycExtensions), typeof(Attestation.AttestationExtensions) }
            .SelectMany(t => t.Assembly.GetTypes())
            .Where(t => t is { IsClass: true, IsAbstract: false, IsPublic: true } && t.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IConsumer<>)))
            .ToList();

    /// <summary>
    /// Asserts that the queue of every consumer exists and that no error queue holds a message.
    /// Returns the queue names checked, with their message counts.
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, uint>> AssertEmptyAsync(EnforcementDeployment deployment, Uri broker)
    {
        var factory = new ConnectionFactory { Uri = broker };
        await using var connection = await factory.CreateConnectionAsync();
        var counts = new Dictionary<string, uint>();
        foreach (var consumer in Consumers)
        {
            var queue = deployment.QueueName(consumer);
            Assert.True(await MessageCountAsync(connection, queue) is not null, $"queue {queue} of {consumer.Name} does not exist: are the queue names right?");
            var errors = await MessageCountAsync(connection, queue + "_error");
            counts[queue + "_error"] = errors ?? 0;
            Assert.True(errors is null or 0, $"{errors} message(s) in {queue}_error");
        }

        return counts;
    }

    /// <summary>Messages ready in a queue; null when it does not exist.</summary>
    private static async Task<uint?> MessageCountAsync(IConnection connection, string queue)
    {
        // A passive declare of a missing queue closes the channel (404): one channel per question.
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            var ok = await channel.QueueDeclarePassiveAsync(queue);
            return ok.MessageCount;
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            return null;
        }
    }
}
