using Microsoft.EntityFrameworkCore;

namespace Oversight.Hosting.Outbox;

/// <summary>
/// An event waiting to leave the service. It is written in the same database transaction
/// as the state change it describes, and its Id becomes the MessageId on the bus, so a
/// consumer can deduplicate a redelivery. MassTransit's EF Core outbox package is not
/// available here, hence this small table and <see cref="OutboxPublisher{TContext}"/>.
/// </summary>
public sealed class OutboxMessage
{
    public Guid Id { get; set; }

    /// <summary>Monotonic insertion order, so events leave in the order they were committed.</summary>
    public long Sequence { get; set; }

    /// <summary>Full CLR type name of the contract record (Oversight.Contracts).</summary>
    public string MessageType { get; set; } = "";

    /// <summary>The record as JSON.</summary>
    public string Payload { get; set; } = "";

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? PublishedAt { get; set; }

    public int Attempts { get; set; }
}

/// <summary>A bus message a consumer has applied, so that a redelivery changes nothing.</summary>
public sealed class ProcessedMessage
{
    public Guid MessageId { get; set; }

    /// <summary>The consumer that applied it: one message may be applied by several consumers.</summary>
    public string Consumer { get; set; } = "";

    public DateTimeOffset ProcessedAt { get; set; }
}

public static class OutboxModel
{
    /// <summary>Adds the outbox and processed-message tables to a service's model.</summary>
    public static ModelBuilder AddOutbox(this ModelBuilder model)
    {
        model.Entity<OutboxMessage>(outbox =>
        {
            outbox.ToTable("outbox_messages");
            // Sequence is the key so that SQLite and PostgreSQL both generate it.
            outbox.HasKey(m => m.Sequence);
            outbox.HasIndex(m => m.Id).IsUnique();
            outbox.HasIndex(m => m.PublishedAt);
            outbox.Property(m => m.MessageType).HasMaxLength(256);
        });
        model.Entity<ProcessedMessage>(processed =>
        {
            processed.ToTable("processed_messages");
            processed.HasKey(m => new { m.MessageId, m.Consumer });
            processed.Property(m => m.Consumer).HasMaxLength(128);
        });
        return model;
    }
}
