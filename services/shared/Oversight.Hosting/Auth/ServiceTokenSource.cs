using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Oversight.Hosting.Auth;

/// <summary>
/// The bearer token a service presents when it calls another Oversight service (role
/// <c>service</c>). In Development it is minted with the development key; otherwise it
/// comes from configuration: a file the platform keeps fresh (Oversight:ServiceAuth:TokenFile,
/// e.g. a projected Kubernetes secret) or a fixed token (Oversight:ServiceAuth:Token).
/// </summary>
public sealed class ServiceTokenSource
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(30);
    private readonly Func<string> _next;
    private readonly object _gate = new();
    private string? _cached;
    private DateTimeOffset _refreshAt;
    // Token lifetimes are real time, whatever the simulation clock says.
    private readonly TimeProvider _clock = TimeProvider.System;

    public ServiceTokenSource(IServiceProvider services, IConfiguration configuration)
    {
        var developmentKey = services.GetService<DevelopmentSigningKey>();
        var audience = configuration[$"{AuthOptions.Section}:Audience"] ?? new AuthOptions().Audience;
        var tokenFile = configuration["Oversight:ServiceAuth:TokenFile"];
        var token = configuration["Oversight:ServiceAuth:Token"];
        if (developmentKey is not null)
        {
            _next = () => developmentKey.CreateToken(audience, Roles.Service, null, null, "oversight-service", Lifetime, _clock.GetUtcNow());
        }
        else if (!string.IsNullOrWhiteSpace(tokenFile))
        {
            _next = () => File.ReadAllText(tokenFile).Trim();
        }
        else if (!string.IsNullOrWhiteSpace(token))
        {
            _next = () => token;
        }
        else
        {
            _next = () => throw new InvalidOperationException(
                "No service token: set Oversight:ServiceAuth:TokenFile or Oversight:ServiceAuth:Token (a token with role 'service').");
        }
    }

    public string Current()
    {
        lock (_gate)
        {
            var now = _clock.GetUtcNow();
            if (_cached is null || now >= _refreshAt)
            {
                _cached = _next();
                _refreshAt = now + TimeSpan.FromMinutes(1);
            }

            return _cached;
        }
    }
}
