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
/// With the in-memory transport, the last <paramref name="Events"/> published events of each
/// outbox are delivered again at every start (registered by AddOversightBus for that transport only).
/// </summary>
/// <remarks>
/// In memory, "published" means queued in this process: a crash loses what the consumers had
/// not yet taken, although its row is marked published. Every consumer is idempotent (sequence,
/// version or processed-message marker), so delivering the recent past again is safe; the
/// queue's backlog is far shorter than this in practice (consumers run in the same process).
/// </remarks>
public sealed record OutboxRedelivery(int Events);

/// <summary>
/// Publishes committed outbox rows in commit order, with the row id as MessageId, and marks
/// them published. It starts once the host has started and the bus answers (an in-memory bus
/// drops what is published before its consumers are connected). If the broker is down the rows
/// wait and are retried; delivery is at least once (a crash between publish and mark sends a
/// row again), and consumers deduplicate on the MessageId.
/// </summary>
public sealed class OutboxPublisher<TContext>(
    IServiceScopeFactory scopes,
    OutboxSignal signal,
    TimeProvider clock,
    IHostApplicationLifetime lifetime,
    ILogger<OutboxPublisher<TContext>> logger,
    OutboxRedelivery? redelivery = null) : BackgroundService
    where TContext : DbContext
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(10);
    private const int BatchSize = 100;

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
            catch (Exception exception)
            {
                // Broker or database unavailable: the rows stay and are retried with back-off.
                failures++;
                var delay = TimeSpan.FromMilliseconds(Math.Min(5000, 200 * Math.Pow(2, Math.Min(failures, 5))));
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
            // Unhealthy before its receive endpoints are up (and while a broker is down: publishing would fail then too).
            var waited = 0;
            while (bus.CheckHealth() is { Status: BusHealthStatus.Unhealthy } health)
            {
                if (++waited == 300)
                {
                    logger.LogWarning("Outbox of {Context} waits for the bus to start: {Description}", typeof(TContext).Name, health.Description);
                }

                await Task.Delay(TimeSpan.FromMilliseconds(100), stoppingToken);
            }
        }

        if (redelivery is not null)
        {
            // Rows are published in sequence order: the last N published are the N highest sequences marked.
            var published = scope.ServiceProvider.GetRequiredService<TContext>().Set<OutboxMessage>().Where(m => m.PublishedAt != null);
            var from = await published.OrderByDescending(m => m.Sequence).Skip(redelivery.Events - 1).Select(m => m.Sequence).FirstOrDefaultAsync(stoppingToken);
            // Unmarked, they are published again in commit order by the loop (and again after another crash).
            var again = await published.Where(m => m.Sequence >= from).ExecuteUpdateAsync(u => u.SetProperty(m => m.PublishedAt, (DateTimeOffset?)null), stoppingToken);
            if (again > 0)
            {
                logger.LogInformation("Outbox of {Context}: the last {Count} events published are delivered again (in-memory bus: a crash loses what was queued)", typeof(TContext).Name, again);
            }
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
            await publisher.Publish(message, type, context => context.MessageId = row.Id, timeout.Token);
            row.PublishedAt = clock.GetUtcNow();
            await context.SaveChangesAsync(stoppingToken);
        }

        return rows.Count;
    }
}
