using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

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
                        cfg.ConfigureEndpoints(context);
                    });
                    break;
                default:
                    bus.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
                    break;
            }
        });
        return builder;
    }
}
