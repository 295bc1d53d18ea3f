using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;

namespace Oversight.Client;

/// <summary>
/// On every call of the three typed clients: a deadline when the caller gave none (unary calls
/// <see cref="OversightClientOptions.DefaultDeadline"/>, streams
/// <see cref="OversightClientOptions.StreamingDeadline"/>), and failures turned into the typed
/// <see cref="OversightException"/>s. It runs outside the channel, so it sees the outcome after
/// gRPC's own retries.
/// </summary>
internal sealed class OversightCallInterceptor(IOptionsMonitor<OversightClientOptions> options) : Interceptor
{
    public override TResponse BlockingUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        try
        {
            return continuation(request, WithDeadline(context, options.CurrentValue.DefaultDeadline));
        }
        catch (RpcException error)
        {
            throw OversightException.From(error);
        }
    }

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        var call = continuation(request, WithDeadline(context, options.CurrentValue.DefaultDeadline));
        return new AsyncUnaryCall<TResponse>(Typed(call.ResponseAsync), Typed(call.ResponseHeadersAsync), call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        var call = continuation(request, WithDeadline(context, options.CurrentValue.StreamingDeadline));
        return new AsyncServerStreamingCall<TResponse>(new TypedReader<TResponse>(call.ResponseStream), Typed(call.ResponseHeadersAsync), call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        var call = continuation(WithDeadline(context, options.CurrentValue.StreamingDeadline));
        return new AsyncClientStreamingCall<TRequest, TResponse>(call.RequestStream, Typed(call.ResponseAsync), Typed(call.ResponseHeadersAsync), call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        var call = continuation(WithDeadline(context, options.CurrentValue.StreamingDeadline));
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(call.RequestStream, new TypedReader<TResponse>(call.ResponseStream), Typed(call.ResponseHeadersAsync), call.GetStatus, call.GetTrailers, call.Dispose);
    }

    private static ClientInterceptorContext<TRequest, TResponse> WithDeadline<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, TimeSpan deadline)
        where TRequest : class
        where TResponse : class =>
        context.Options.Deadline is not null
            ? context
            : new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithDeadline(DateTime.UtcNow.Add(deadline)));

    private static async Task<T> Typed<T>(Task<T> task)
    {
        try
        {
            return await task.ConfigureAwait(false);
        }
        catch (RpcException error)
        {
            throw OversightException.From(error);
        }
    }

    private sealed class TypedReader<T>(IAsyncStreamReader<T> inner) : IAsyncStreamReader<T>
    {
        public T Current => inner.Current;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            try
            {
                return await inner.MoveNext(cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException error)
            {
                throw OversightException.From(error);
            }
        }
    }
}
