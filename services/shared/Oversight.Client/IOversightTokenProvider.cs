using Microsoft.Extensions.Options;

namespace Oversight.Client;

/// <summary>
/// Gives the bearer token sent with each call. The default reads
/// <see cref="OversightClientOptions.Token"/> or <see cref="OversightClientOptions.TokenFile"/>;
/// register your own implementation (<c>services.AddSingleton&lt;IOversightTokenProvider, MyTokens&gt;()</c>,
/// before or after <c>AddOversightClient</c>) to fetch tokens from an identity provider.
/// </summary>
public interface IOversightTokenProvider
{
    /// <summary>The token for the next call, without the "Bearer " prefix; null or empty sends none (health, public keys).</summary>
    ValueTask<string?> GetTokenAsync(CancellationToken cancellationToken);
}

/// <summary>The token from configuration: a fixed value, or a file read again whenever it changes.</summary>
internal sealed class ConfiguredTokenProvider(IOptionsMonitor<OversightClientOptions> options) : IOversightTokenProvider
{
    private readonly Lock _gate = new();
    private (string Path, DateTime Written, string Token)? _file;

    public async ValueTask<string?> GetTokenAsync(CancellationToken cancellationToken)
    {
        var settings = options.CurrentValue;
        if (!string.IsNullOrWhiteSpace(settings.Token))
        {
            return settings.Token.Trim();
        }

        if (string.IsNullOrWhiteSpace(settings.TokenFile))
        {
            return null;
        }

        var path = settings.TokenFile;
        var written = File.GetLastWriteTimeUtc(path);
        lock (_gate)
        {
            if (_file is { } cached && cached.Path == path && cached.Written == written)
            {
                return cached.Token;
            }
        }

        var token = (await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)).Trim();
        lock (_gate)
        {
            _file = (path, written, token);
        }

        return token;
    }
}
