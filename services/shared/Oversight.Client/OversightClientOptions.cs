using System.Net;
using Microsoft.Extensions.Options;

namespace Oversight.Client;

/// <summary>
/// Settings of the Oversight client, bound from the section <c>Oversight:Client</c>
/// (environment variables: <c>Oversight__Client__Address</c> and so on).
/// </summary>
public sealed class OversightClientOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string Section = "Oversight:Client";

    /// <summary>
    /// The address of every service when they share one, as the all-in-one program does
    /// (e.g. <c>http://127.0.0.1:7400</c>). A per-service address below overrides it.
    /// </summary>
    public Uri? Address { get; set; }

    /// <summary>The KYC tiering service's address, when it differs from <see cref="Address"/>.</summary>
    public Uri? KycAddress { get; set; }

    /// <summary>The workload attestation service's address, when it differs from <see cref="Address"/>.</summary>
    public Uri? AttestationAddress { get; set; }

    /// <summary>The threshold enforcement service's address, when it differs from <see cref="Address"/>.</summary>
    public Uri? EnforcementAddress { get; set; }

    /// <summary>
    /// A fixed bearer token (a JWT from the operator's identity provider). Leave empty to use
    /// <see cref="TokenFile"/>, or register your own <see cref="IOversightTokenProvider"/>.
    /// </summary>
    public string? Token { get; set; }

    /// <summary>
    /// A file holding the bearer token, read again whenever it changes (for example a projected
    /// Kubernetes secret that the platform keeps fresh).
    /// </summary>
    public string? TokenFile { get; set; }

    /// <summary>The deadline of a unary call that names none itself. Default 10 seconds.</summary>
    public TimeSpan DefaultDeadline { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The deadline of a streaming call that names none itself (exports, attestation streams). Default 5 minutes.</summary>
    public TimeSpan StreamingDeadline { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Retries of idempotent calls that fail with UNAVAILABLE.</summary>
    public OversightRetryOptions Retry { get; set; } = new();

    /// <summary>
    /// Allows a plain-text (http) address on a host other than loopback. Bearer tokens then cross
    /// the network unencrypted: only for a network that encrypts by itself (a service mesh with
    /// mutual TLS). Loopback addresses (the embedded default) never need it.
    /// </summary>
    public bool AllowInsecureTransport { get; set; }

    /// <summary>
    /// The transparency log's public key (SubjectPublicKeyInfo PEM), pinned. When empty the client
    /// asks the service (GetLogPublicKey) once, which trusts the service on first use: an auditor
    /// pins the key it obtained out of band.
    /// </summary>
    public string? LogPublicKeyPem { get; set; }

    /// <summary>The log's key name (its origin, e.g. <c>localhost/oversight-attestation</c>); required with <see cref="LogPublicKeyPem"/>.</summary>
    public string? LogKeyName { get; set; }

    /// <summary>How long the KYC tier-token keys (JWKS) are kept before they are fetched again. Default 5 minutes; an unknown key id fetches them at once.</summary>
    public TimeSpan TierTokenKeysLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Clock skew tolerated on a tier token's expiry. Default 30 seconds.</summary>
    public TimeSpan TierTokenClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    internal Uri? AddressOf(OversightService service) => service switch
    {
        OversightService.Kyc => KycAddress ?? Address,
        OversightService.Attestation => AttestationAddress ?? Address,
        _ => EnforcementAddress ?? Address,
    };
}

/// <summary>
/// gRPC's own retry policy (service config), applied to idempotent methods only and only for
/// UNAVAILABLE: see <see cref="OversightRetryPolicy"/> for which methods and why.
/// </summary>
public sealed class OversightRetryOptions
{
    /// <summary>Attempts in all, the first included: 1 turns retries off; gRPC allows at most 5. Default 4.</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>The longest first wait (each wait is random up to its bound). Default 0.2 seconds.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The cap on any wait. Default 2 seconds.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The factor by which each wait's bound grows. Default 2.</summary>
    public double BackoffMultiplier { get; set; } = 2;
}

/// <summary>The three services.</summary>
internal enum OversightService
{
    Kyc,
    Attestation,
    Enforcement,
}

/// <summary>Refuses unusable settings when the client is first used (or at start, in a host), naming the key.</summary>
internal sealed class OversightClientOptionsValidator : IValidateOptions<OversightClientOptions>
{
    public ValidateOptionsResult Validate(string? name, OversightClientOptions options)
    {
        var section = OversightClientOptions.Section;
        var failures = new List<string>();
        foreach (var (service, key) in new[] { (OversightService.Kyc, "KycAddress"), (OversightService.Attestation, "AttestationAddress"), (OversightService.Enforcement, "EnforcementAddress") })
        {
            var address = options.AddressOf(service);
            if (address is null)
            {
                failures.Add($"{section}:Address (or {section}:{key}) is required: the gRPC address, e.g. http://127.0.0.1:7400 for the all-in-one program.");
            }
            else if (!address.IsAbsoluteUri || address.Scheme is not ("http" or "https"))
            {
                failures.Add($"{section}:{key} '{address}' must be an absolute http:// or https:// address.");
            }
            else if (address.Scheme == "http" && !IsLoopback(address) && !options.AllowInsecureTransport)
            {
                failures.Add($"{section}:{key} '{address}' is plain text to another host: bearer tokens would cross the network unencrypted. Use https, or set {section}:AllowInsecureTransport=true inside a network that encrypts by itself.");
            }
        }

        if (!string.IsNullOrWhiteSpace(options.Token) && !string.IsNullOrWhiteSpace(options.TokenFile))
        {
            failures.Add($"{section}:Token and {section}:TokenFile are both set; set one.");
        }

        if (options.DefaultDeadline <= TimeSpan.Zero || options.StreamingDeadline <= TimeSpan.Zero)
        {
            failures.Add($"{section}:DefaultDeadline and {section}:StreamingDeadline must be positive: every call has a deadline.");
        }

        var retry = options.Retry;
        if (retry.MaxAttempts is < 1 or > 5)
        {
            failures.Add($"{section}:Retry:MaxAttempts must be 1 (no retry) to 5, not {retry.MaxAttempts}.");
        }

        if (retry.InitialBackoff <= TimeSpan.Zero || retry.MaxBackoff < retry.InitialBackoff || retry.BackoffMultiplier <= 0)
        {
            failures.Add($"{section}:Retry needs InitialBackoff > 0, MaxBackoff >= InitialBackoff and BackoffMultiplier > 0.");
        }

        if (!string.IsNullOrWhiteSpace(options.LogPublicKeyPem) && string.IsNullOrWhiteSpace(options.LogKeyName))
        {
            failures.Add($"{section}:LogKeyName is required with {section}:LogPublicKeyPem (the log's origin).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    internal static bool IsLoopback(Uri address) =>
        address.IsLoopback || (IPAddress.TryParse(address.DnsSafeHost, out var ip) && IPAddress.IsLoopback(ip));
}
