using System.Security.Claims;
using Grpc.Core;

namespace Oversight.Hosting.Auth;

/// <summary>
/// Who is calling, from the validated token. Every marketplace-scoped RPC asks
/// <see cref="RequireMarketplace"/> before it reads or changes anything: a caller acts
/// only inside its own marketplace, except the <c>service</c> role (DESIGN.md).
/// </summary>
public sealed class Caller
{
    private Caller(string role, string? marketplace, string? provider, string subject)
    {
        Role = role;
        Marketplace = marketplace;
        Provider = provider;
        Subject = subject;
    }

    public string Role { get; }
    public string? Marketplace { get; }
    public string? Provider { get; }
    public string Subject { get; }

    /// <summary>How the caller appears in histories and audit logs: role and subject, never personal data.</summary>
    public string Actor => $"{Role}:{Subject}";

    public bool IsService => Role == Roles.Service;

    /// <summary>
    /// Not bound to one marketplace: the service role, and an admin whose token names no
    /// marketplace (the deployment's administrator: the policy document and the clock span
    /// every marketplace). An admin token that names a marketplace is bound to it.
    /// </summary>
    public bool IsDeploymentWide => IsService || (Role == Roles.Admin && string.IsNullOrEmpty(Marketplace));

    public static Caller From(ServerCallContext context)
    {
        var user = context.GetHttpContext().User;
        if (user.Identity?.IsAuthenticated != true)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "A bearer token is required."));
        }

        return From(user);
    }

    public static Caller From(ClaimsPrincipal user)
    {
        var role = user.FindFirst(OversightClaims.Role)?.Value;
        if (string.IsNullOrEmpty(role) || !Roles.All.Contains(role))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "The token carries no known 'role' claim."));
        }

        return new Caller(
            role,
            user.FindFirst(OversightClaims.Marketplace)?.Value,
            user.FindFirst(OversightClaims.Provider)?.Value,
            user.FindFirst(OversightClaims.Subject)?.Value ?? "unknown");
    }

    /// <summary>Refuses a caller bound to one marketplace (for what spans every marketplace).</summary>
    public Caller RequireDeploymentWide()
    {
        if (!IsDeploymentWide)
        {
            throw new RpcException(new Status(
                StatusCode.PermissionDenied,
                $"This method acts on every marketplace: it needs a deployment-wide token (an admin token without a marketplace claim); this one is bound to '{Marketplace}'."));
        }

        return this;
    }

    /// <summary>Refuses callers whose role is not one of <paramref name="roles"/>.</summary>
    public Caller RequireRole(params string[] roles)
    {
        if (!roles.Contains(Role))
        {
            throw new RpcException(new Status(
                StatusCode.PermissionDenied,
                $"Role '{Role}' may not call this method; allowed: {string.Join(", ", roles)}."));
        }

        return this;
    }

    /// <summary>Refuses a caller bound to another marketplace than <paramref name="marketplaceId"/>.</summary>
    public Caller RequireMarketplace(string marketplaceId)
    {
        if (!IsDeploymentWide && !string.Equals(Marketplace, marketplaceId, StringComparison.Ordinal))
        {
            throw new RpcException(new Status(
                StatusCode.PermissionDenied,
                "The caller's token is not valid for marketplace_id; a caller acts only inside its own marketplace."));
        }

        return this;
    }
}
