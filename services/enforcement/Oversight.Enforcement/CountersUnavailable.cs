using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Oversight.Enforcement;

/// <summary>
/// Enforcement cannot read or write an account's counters now: Redis does not answer, or the
/// counters must be rebuilt from the attestation ledger and the ledger cannot be read. Callers
/// fail closed (UNAVAILABLE) unless the policy says otherwise.
/// </summary>
public sealed class CountersUnavailableException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>Whether <paramref name="e"/> means the counters cannot be used right now.</summary>
    public static bool Matches(Exception e) =>
        e is CountersUnavailableException or RedisException or RedisTimeoutException;

    public static string MessageFor(Exception e) => e is CountersUnavailableException
        ? e.Message
        : "Usage counters are unavailable (Redis does not answer); enforcement fails closed. Retry later.";
}

/// <summary>
/// Answers UNAVAILABLE with a clear message, instead of an opaque INTERNAL, when an enforcement
/// RPC cannot reach its counters. Nothing is swallowed: the call fails, and is logged.
/// </summary>
public sealed class CountersUnavailableInterceptor(ILogger<CountersUnavailableInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception e) when (CountersUnavailableException.Matches(e))
        {
            logger.LogError(e, "{Method}: counters unavailable; failing closed", context.Method);
            throw new RpcException(new Status(StatusCode.Unavailable, CountersUnavailableException.MessageFor(e)));
        }
    }
}
