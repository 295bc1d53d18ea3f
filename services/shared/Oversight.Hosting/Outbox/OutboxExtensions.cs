using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Oversight.Hosting.Outbox;

public static class OutboxExtensions
{
    /// <summary>Runs the publisher for one service's outbox table.</summary>
    public static IServiceCollection AddOutboxPublisher<TContext>(this IServiceCollection services)
        where TContext : DbContext
    {
        services.AddSingleton<OutboxSignal>();
        services.AddMetrics();
        services.TryAddSingleton<OutboxMetrics>();
        services.AddHostedService<OutboxPublisher<TContext>>();
        return services;
    }
}
