namespace Oversight.Hosting.Auth;

/// <summary>Values of the <c>role</c> claim (DESIGN.md, Security).</summary>
public static class Roles
{
    public const string Operator = "operator";
    public const string Provider = "provider";
    public const string Auditor = "auditor";
    public const string Compliance = "compliance";
    public const string Admin = "admin";
    /// <summary>The services' own identity for calls between them; not bound to a marketplace.</summary>
    public const string Service = "service";

    public static readonly IReadOnlyList<string> All = [Operator, Provider, Auditor, Compliance, Admin, Service];
}

/// <summary>Claim names in Oversight tokens.</summary>
public static class OversightClaims
{
    public const string Role = "role";
    public const string Marketplace = "marketplace";
    public const string Provider = "provider";
    public const string Subject = "sub";
}
