namespace Oversight.Hosting.Auth;

/// <summary>JWT validation settings. Section "Oversight:Auth".</summary>
public sealed class AuthOptions
{
    public const string Section = "Oversight:Auth";

    /// <summary>Expected "iss" of caller tokens (the operator's identity provider).</summary>
    public string Issuer { get; set; } = "";

    /// <summary>Expected "aud" of caller tokens.</summary>
    public string Audience { get; set; } = "oversight";

    /// <summary>OpenID Connect authority whose metadata gives the signing keys (optional).</summary>
    public string? Authority { get; set; }

    /// <summary>Public signing keys as a JSON Web Key Set (used when no Authority is given).</summary>
    public string? SigningKeysJwks { get; set; }

    /// <summary>
    /// Development only: sign and accept tokens with a key the host makes itself and keeps
    /// in the data folder. Refused in Production.
    /// </summary>
    public bool UseDevelopmentKey { get; set; }

    /// <summary>Seconds of clock skew tolerated on exp/nbf.</summary>
    public int ClockSkewSeconds { get; set; } = 30;
}
