using System.Collections;
using System.Text;
using System.Text.Json;
using Oversight.Testing;
using RabbitMQ.Client;

namespace Oversight.Kyc.Tests;

/// <summary>
/// Reads a private RabbitMQ node completely: its queues, exchanges and bindings (rabbitmqctl,
/// no management plugin needed) and every message waiting in every queue, without consuming it
/// (messages are fetched unacknowledged, then returned when the channel closes).
/// </summary>
public sealed class BrokerInspector(RabbitMqServerInstance broker)
{
    /// <summary>
    /// A queue bound to the exchange of every bus event (Oversight.Contracts), declared before the
    /// host publishes anything: it keeps a copy of every event the deployment sent, for the scans.
    /// </summary>
    public async Task DeclareTapAsync(string prefix, string tapQueue)
    {
        var factory = new ConnectionFactory { Uri = broker.AmqpUri };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(tapQueue, durable: true, exclusive: false, autoDelete: false);
        foreach (var type in typeof(Contracts.AccountCreated).Assembly.GetExportedTypes().Where(t => t.Namespace == "Oversight.Contracts" && t.IsClass))
        {
            // MassTransit's name for a message type's exchange, with the deployment's entity prefix.
            var exchange = $"{prefix}.{type.Namespace}:{type.Name}";
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
            await channel.QueueBindAsync(tapQueue, exchange, "");
        }
    }

    public async Task<IReadOnlyList<string>> QueuesAsync() =>
        (await CtlJsonAsync("list_queues", "name")).Select(q => q.GetProperty("name").GetString()!).ToList();

    public async Task<IReadOnlyList<string>> ExchangesAsync() =>
        (await CtlJsonAsync("list_exchanges", "name")).Select(e => e.GetProperty("name").GetString()!).ToList();

    public async Task<IReadOnlyList<(string Source, string Destination)>> BindingsAsync() =>
        (await CtlJsonAsync("list_bindings", "source_name", "destination_name"))
            .Select(b => (b.GetProperty("source_name").GetString()!, b.GetProperty("destination_name").GetString()!)).ToList();

    /// <summary>Every message of every queue on the node (or of the queues given), as text: "queue: headers body".</summary>
    public async Task<IReadOnlyList<string>> MessagesAsync(IReadOnlyList<string>? queues = null)
    {
        var messages = new List<string>();
        var factory = new ConnectionFactory { Uri = broker.AmqpUri };
        await using var connection = await factory.CreateConnectionAsync();
        foreach (var queue in queues ?? await QueuesAsync())
        {
            await using var channel = await connection.CreateChannelAsync();
            while (await channel.BasicGetAsync(queue, autoAck: false) is { } message)
            {
                var text = new StringBuilder(queue).Append(": ");
                foreach (var (key, value) in message.BasicProperties.Headers ?? new Dictionary<string, object?>())
                {
                    text.Append(key).Append('=').Append(Render(value)).Append(' ');
                }

                text.Append(message.BasicProperties.MessageId).Append(' ').Append(message.BasicProperties.Type).Append(' ');
                text.Append(Encoding.UTF8.GetString(message.Body.Span));
                messages.Add(text.ToString());
            }

            // Closing the channel without acknowledging puts every message back.
            await channel.CloseAsync();
        }

        return messages;
    }

    private static string Render(object? value) => value switch
    {
        null => "",
        byte[] bytes => Encoding.UTF8.GetString(bytes),
        IDictionary dictionary => string.Join(",", dictionary.Keys.Cast<object>().Select(k => $"{k}:{Render(dictionary[k])}")),
        IEnumerable sequence and not string => string.Join(",", sequence.Cast<object?>().Select(Render)),
        _ => value.ToString() ?? "",
    };

    private async Task<List<JsonElement>> CtlJsonAsync(params string[] command)
    {
        var binDir = new[] { Environment.GetEnvironmentVariable("OVERSIGHT_TEST_RABBITMQ_BIN_DIR"), "/usr/lib/rabbitmq/bin" }
            .First(d => !string.IsNullOrWhiteSpace(d) && File.Exists(Path.Combine(d, "rabbitmqctl")))!;
        var env = new Dictionary<string, string>
        {
            ["ERL_EPMD_PORT"] = Environment.GetEnvironmentVariable("OVERSIGHT_TEST_EPMD_PORT") is { Length: > 0 } port ? port : "14369",
        };
        var (code, output, error) = await Processes.RunAsync(Path.Combine(binDir, "rabbitmqctl"),
            ["-n", broker.NodeName, "-q", "--formatter", "json", .. command], broker.DataDirectory, environment: env);
        Assert.True(code == 0, $"rabbitmqctl {string.Join(' ', command)} failed ({code}): {output} {error}");
        var (start, end) = (output.IndexOf('['), output.LastIndexOf(']'));
        Assert.True(start >= 0 && end > start, $"rabbitmqctl {string.Join(' ', command)} printed no JSON array: {output}");
        return JsonDocument.Parse(output[start..(end + 1)]).RootElement.EnumerateArray().ToList();
    }
}
