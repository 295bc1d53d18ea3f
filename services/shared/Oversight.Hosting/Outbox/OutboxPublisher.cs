using System.Text.Json;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Oversight.Contracts;

namespace Oversight.Hosting.Outbox;

/// <summary>
/// Wakes the outbox publishers as soon as a transaction with events commits. One signal is
/// shared by every service of a host (the all-in-one host has three outboxes): a
/// notification wakes them all, and each finds whether its own table has rows.
/// </summary>
public sealed class OutboxSignal
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Notify() => Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Returns when notified or after <paramref name="timeout"/>, whichever comes first.</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var next = Volatile.Read(ref _next).Task;
        await Task.WhenAny(next, Task.Delay(timeout, cancellationToken));
        cancellationToken.ThrowIfCancellationRequested();
    }
}

/// <summary>
/// With the in-memory transport, each outbox's last <paramref name="Events"/> published events,
/// of the <paramref name="Span"/> before the last one, are delivered again at every start
/// (registered by AddOversightBus for that transport only).
/// </summary>
/// <remarks>
/// In memory, "published" means queued in this process: a crash loses what the consumers had
/// not yet taken, although its row is marked published. Every consumer is idempotent (sequence,
/// version or processed-message marker), so delivering the recent past again is safe; the
/// queue's backlog is far shorter than this in practice (consumers run in the same process).
/// The span keeps old events out: a usage event older than the counters' exactly-once marks
/// would cost a rebuild of its tag each.
/// </remarks>
public sealed record OutboxRedelivery(int Events, TimeSpan Span)
{
    public int Events { get; } = Events > 0 ? Events : throw new ArgumentOutOfRangeException(nameof(Events), Events, "at least one event");
}

/// <summary>
/// Publishes committed outbox rows in commit order, with the row id as MessageId, and marks
/// them published. It starts once the host has started and the bus answers (an in-memory bus
/// drops what is published before its consumers are connected). If the broker is down the rows
/// wait and are retried; delivery is at least once (a crash between publish and mark sends a
/// row again), and consumers deduplicate on the MessageId. What waits, and what fails, is measured
/// (<see cref="OutboxMetrics"/>).
/// </summary>
public sealed class OutboxPublisher<TContext>(
    IServiceScopeFactory scopes,
    OutboxSignal signal,
    TimeProvider clock,
    IHostApplicationLifetime lifetime,
    OutboxMetrics metrics,
    ILogger<OutboxPublisher<TContext>> logger,
    OutboxRedelivery? redelivery = null) : BackgroundService
    where TContext : DbContext
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(10);
    private const int BatchSize = 100;

    /// <summary>How often the waiting figures are read from the table, at most (real time: it bounds the database's cost).</summary>
    private static readonly TimeSpan FiguresInterval = TimeSpan.FromSeconds(5);

    /// <summary>The outbox's name in the metrics: its service (KycDbContext: kyc).</summary>
    private static readonly string Name = typeof(TContext).Name.EndsWith("DbContext", StringComparison.Ordinal)
        ? typeof(TContext).Name[..^"DbContext".Length].ToLowerInvariant()
        : typeof(TContext).Name;

    // Ages are counted on the clock that stamps CreatedAt (the writers' TimeProvider, this one):
    // under the simulation clock, the wall clock would make a waiting row hours old, or not yet made.
    private readonly OutboxMetrics.Outbox _metrics = metrics.For(Name, clock);
    private long _figuresDue;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await StartedAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RefreshFiguresAsync(stoppingToken);
                var published = await PublishBatchAsync(stoppingToken);
                failures = 0;
                if (published == BatchSize)
                {
                    continue;
                }

                await signal.WaitAsync(PollInterval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (EventNotRoutedException notRouted)
            {
                _metrics.Failed(OutboxMetrics.NotRouted);
                failures++;
                var delay = Backoff(failures);
                logger.LogWarning(
                    "Outbox of {Context}: no queue on the broker receives {Event} yet (has the service that consumes it started on this broker?); it stays in the outbox, with every event after it (attempt {Failures}; retrying in {Delay})",
                    typeof(TContext).Name, notRouted.EventType, failures, delay);
                await Task.Delay(delay, stoppingToken);
            }
            catch (Exception exception)
            {
                // Broker or database unavailable: the rows stay and are retried with back-off.
                _metrics.Failed(OutboxMetrics.Error);
                failures++;
                var delay = Backoff(failures);
                logger.LogWarning(exception, "Outbox of {Context} could not publish (attempt {Failures}); retrying in {Delay}", typeof(TContext).Name, failures, delay);
                await Task.Delay(delay, stoppingToken);
            }
        }
    }

    /// <summary>Waits for the host to start and the bus to leave "not started", then marks the recent past for redelivery when asked to.</summary>
    private async Task StartedAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
        {
            await started.Task;
        }

        await using var scope = scopes.CreateAsyncScope();
        if (scope.ServiceProvider.GetService<IBusControl>() is { } bus)
        {
            // Unhealthy before its receive endpoints are up. A broker that is down (or an endpoint
            // that stays faulted) keeps it so: after 30 s the loop goes on, and its publishing
            // errors are retried and logged as before.
            for (var waited = 0; bus.CheckHealth() is { Status: BusHealthStatus.Unhealthy } health; waited++)
            {
                if (waited == 300)
                {
                    logger.LogWarning("Outbox of {Context}: the bus has not started after 30 s ({Description}); publishing anyway", typeof(TContext).Name, health.Description);
                    break;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(100), stoppingToken);
            }
        }

        if (redelivery is not null)
        {
            // Rows are published in sequence order: the last N published are the N highest sequences
            // marked. Their times are compared here, not in SQL (SQLite cannot compare DateTimeOffset).
            var published = scope.ServiceProvider.GetRequiredService<TContext>().Set<OutboxMessage>().Where(m => m.PublishedAt != null);
            var recent = await published.OrderByDescending(m => m.Sequence).Take(redelivery.Events)
                .Select(m => new { m.Sequence, m.PublishedAt }).ToListAsync(stoppingToken);
            var since = recent.Count == 0 ? default : recent[0].PublishedAt!.Value - redelivery.Span;
            var from = recent.TakeWhile(m => m.PublishedAt >= since).Select(m => (long?)m.Sequence).LastOrDefault();
            // Unmarked, they are published again in commit order by the loop (and again after another crash).
            var again = from is not { } first ? 0 : await published.Where(m => m.Sequence >= first)
                .ExecuteUpdateAsync(u => u.SetProperty(m => m.PublishedAt, (DateTimeOffset?)null), stoppingToken);
            if (again > 0)
            {
                logger.LogInformation("Outbox of {Context}: the last {Count} events published are delivered again (in-memory bus: a crash loses what was queued)", typeof(TContext).Name, again);
            }
        }
    }

    /// <summary>
    /// Reads how many rows wait and since when, at most every <see cref="FiguresInterval"/>, for the
    /// gauges. One query; the oldest row is the first in commit order, as SQLite cannot take the
    /// MIN of a DateTimeOffset. When the database cannot be read, the last figures stay (the age
    /// still grows) and the publishing that follows fails and is logged.
    /// </summary>
    private async Task RefreshFiguresAsync(CancellationToken stoppingToken)
    {
        var now = Environment.TickCount64;
        if (now < _figuresDue)
        {
            return;
        }

        _figuresDue = now + (long)FiguresInterval.TotalMilliseconds;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var waiting = scope.ServiceProvider.GetRequiredService<TContext>().Set<OutboxMessage>().Where(m => m.PublishedAt == null);
            var oldest = await waiting.OrderBy(m => m.Sequence)
                .Select(m => new { m.CreatedAt, Count = waiting.LongCount() })
                .FirstOrDefaultAsync(stoppingToken);
            _metrics.Waiting(oldest?.Count ?? 0, oldest?.CreatedAt);
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            logger.LogDebug(exception, "Outbox of {Context}: could not count the waiting events", typeof(TContext).Name);
        }
    }

    private async Task<int> PublishBatchAsync(CancellationToken stoppingToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var context = scope.ServiceProvider.GetRequiredService<TContext>();
        var publisher = scope.ServiceProvider.GetRequiredService<IPublishEndpoint>();
        var rows = await context.Set<OutboxMessage>()
            .Where(m => m.PublishedAt == null)
            .OrderBy(m => m.Sequence)
            .Take(BatchSize)
            .ToListAsync(stoppingToken);

        foreach (var row in rows)
        {
            var type = typeof(PolicyChanged).Assembly.GetType(row.MessageType)
                ?? throw new InvalidOperationException($"Outbox row {row.Id} has unknown message type {row.MessageType}.");
            var message = JsonSerializer.Deserialize(row.Payload, type, OutboxWriter.Json)!;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(PublishTimeout);
            row.Attempts++;
            var mandatory = ConsumedEvents.Mandatory.Contains(type);
            try
            {
                await publisher.Publish(message, type, context =>
                {
                    context.MessageId = row.Id;
                    // Returned by the broker, not dropped, when no queue is bound for it (see ConsumedEvents).
                    if (mandatory && context.TryGetPayload<RabbitMqSendContext>(out var rabbit))
                    {
                        rabbit.Mandatory = true;
                    }
                }, timeout.Token);
            }
            catch (Exception failure) when (!stoppingToken.IsCancellationRequested)
            {
                await SaveAttemptsAsync(context, row, stoppingToken);
                if (failure is MessageReturnedException returned)
                {
                    throw new EventNotRoutedException(type.Name, returned);
                }

                throw;
            }

            row.PublishedAt = clock.GetUtcNow();
            await context.SaveChangesAsync(stoppingToken);
            _metrics.Published();
        }

        return rows.Count;
    }

    /// <summary>
    /// Keeps the failed attempt in the row, so that the table tells how long an event has been
    /// refused. Best effort: when the database is what failed, this fails too, and the caller
    /// goes on with the publishing error.
    /// </summary>
    private async Task SaveAttemptsAsync(TContext context, OutboxMessage row, CancellationToken stoppingToken)
    {
        try
        {
            await context.SaveChangesAsync(stoppingToken);
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            logger.LogDebug(exception, "Outbox of {Context}: could not record attempt {Attempts} of event {Id}", typeof(TContext).Name, row.Attempts, row.Id);
        }
    }

    private static TimeSpan Backoff(int failures) => TimeSpan.FromMilliseconds(Math.Min(5000, 200 * Math.Pow(2, Math.Min(failures, 5))));

    private sealed class EventNotRoutedException(string eventType, Exception inner) : Exception($"no queue receives {eventType}", inner)
    {
        public string EventType { get; } = eventType;
    }
}
