using System.Text.Json;
using MassTransit;
using Microsoft.EntityFrameworkCore;

namespace Oversight.Hosting.Outbox;

public static class OutboxWriter
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Queues an event in the same unit of work as the state change it describes: both are
    /// committed by the caller's SaveChanges, or neither is. Returns the future MessageId.
    /// </summary>
    public static Guid AddEvent<TEvent>(this DbContext context, TEvent message, DateTimeOffset now)
        where TEvent : class
    {
        var row = new OutboxMessage
        {
            // Sequential ids keep PostgreSQL's index tidy and sort like their creation.
            Id = NewId.NextGuid(),
            MessageType = typeof(TEvent).FullName!,
            Payload = JsonSerializer.Serialize(message, Json),
            CreatedAt = now,
        };
        context.Set<OutboxMessage>().Add(row);
        return row.Id;
    }

    /// <summary>
    /// Applies a bus message once per consumer: false when this consumer already applied it.
    /// Call before the state change; the marker is committed by the same SaveChanges.
    /// </summary>
    public static async Task<bool> TryBeginProcessingAsync(this DbContext context, Guid? messageId, string consumer, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (messageId is not { } id)
        {
            throw new InvalidOperationException("A bus message without a MessageId cannot be deduplicated.");
        }

        var processed = context.Set<ProcessedMessage>();
        if (await processed.AnyAsync(m => m.MessageId == id && m.Consumer == consumer, cancellationToken))
        {
            return false;
        }

        processed.Add(new ProcessedMessage { MessageId = id, Consumer = consumer, ProcessedAt = now });
        return true;
    }
}
