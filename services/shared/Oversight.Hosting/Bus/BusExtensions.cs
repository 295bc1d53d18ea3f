using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Hosting.Outbox;

namespace Oversight.Hosting.Bus;

/// <summary>A service library's consumers, added to the one bus its host builds.</summary>
public sealed record BusRegistration(Action<IBusRegistrationConfigurator> Register);

public static class BusExtensions
{
    /// <summary>Called by a service's AddX: its consumers join whatever bus the host composes.</summary>
    public static IServiceCollection AddBusRegistration(this IServiceCollection services, Action<IBusRegistrationConfigurator> register) =>
        services.AddSingleton(new BusRegistration(register));

    /// <summary>
    /// Builds the host's single MassTransit bus from every registered service library
    /// (MassTransit allows one AddMassTransit per container, and the all-in-one host
    /// composes three libraries).
    /// </summary>
    public static WebApplicationBuilder AddOversightBus(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(BusOptions.Section).Get<BusOptions>() ?? new BusOptions();
        var registrations = builder.Services
            .Where(d => d.ServiceType == typeof(BusRegistration) && d.ImplementationInstance is BusRegistration)
            .Select(d => (BusRegistration)d.ImplementationInstance!)
            .ToList();

        builder.Services.AddMassTransit(bus =>
        {
            // MassTransit 8.4+ reports usage to its vendor (usage-tracking.masstransit.io) unless
            // told not to: a privacy service sends nothing anywhere its operator did not configure.
            bus.DisableUsageTelemetry();
            bus.SetEndpointNameFormatter(new KebabCaseEndpointNameFormatter(options.EndpointPrefix, includeNamespace: false));
            foreach (var registration in registrations)
            {
                registration.Register(bus);
            }

            switch (options.Transport)
            {
                case BusTransport.RabbitMq:
                    if (string.IsNullOrWhiteSpace(options.RabbitMqUri))
                    {
                        throw new InvalidOperationException("Oversight:Bus:RabbitMqUri is required when Oversight:Bus:Transport is RabbitMq.");
                    }

                    bus.UsingRabbitMq((context, cfg) =>
                    {
                        cfg.Host(new Uri(options.RabbitMqUri));
                        if (!string.IsNullOrEmpty(options.EndpointPrefix))
                        {
                            // Exchanges are named after message types; the prefix keeps two
                            // deployments on one broker from receiving each other's events.
                            cfg.MessageTopology.SetEntityNameFormatter(
                                new PrefixEntityNameFormatter(cfg.MessageTopology.EntityNameFormatter, options.EndpointPrefix + "."));
                        }

                        ConfigureResilience(cfg, options);
                        cfg.ConfigureEndpoints(context);
                    });
                    break;
                default:
                    builder.Services.AddSingleton(new OutboxRedelivery(Events: 10_000, Span: TimeSpan.FromHours(1)));
                    bus.UsingInMemory((context, cfg) =>
                    {
                        ConfigureResilience(cfg, options);
                        cfg.ConfigureEndpoints(context);
                    });
                    break;
            }
        });
        return builder;
    }

    /// <summary>
    /// When a consumer's dependency (Redis, the database) is down, messages wait: an
    /// in-memory interval retry outlasts the kill switch's trip, and the kill switch then
    /// stops the endpoint and restarts it later, so an outage never dead-letters a message
    /// (DESIGN.md, Bus). No delayed redelivery: RabbitMQ's delayed-message plugin is absent.
    /// </summary>
    private static void ConfigureResilience(IBusFactoryConfigurator cfg, BusOptions options)
    {
        cfg.UseKillSwitch(killSwitch => killSwitch
            .SetActivationThreshold(options.KillSwitchActivationThreshold)
            .SetTripThreshold(0.15)
            .SetRestartTimeout(TimeSpan.FromSeconds(options.KillSwitchRestartSeconds)));
        cfg.UseMessageRetry(retry => retry.Interval(options.RetryLimit, TimeSpan.FromMilliseconds(options.RetryIntervalMilliseconds)));
    }
}
