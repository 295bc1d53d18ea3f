using System.Diagnostics;
using System.Diagnostics.Metrics;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Oversight.Hosting;

/// <summary>
/// Every gRPC call a service handles, by method and final status, as gRPC's OpenTelemetry metrics
/// guide names it: histogram <c>grpc.server.call.duration</c> (seconds) with <c>grpc.method</c>
/// ("oversight.enforcement.v1.ThresholdEnforcement/Authorize") and <c>grpc.status</c> ("OK",
/// "UNAVAILABLE", ...). ASP.NET Core's own HTTP metrics answer 200 for a gRPC call whatever its
/// status, so without this an operator cannot see a service failing its callers. Written by hand:
/// grpc-dotnet records no per-status metrics, and OpenTelemetry's gRPC instrumentation is for clients.
/// Calls refused before a handler runs (no or a bad token) are not here: they are HTTP 401 in
/// <c>http.server.request.duration</c>.
/// </summary>
public sealed class GrpcServerMetrics : Interceptor
{
    public const string MeterName = HostingExtensions.TelemetryPrefix + "Grpc";

    // Seconds: from a cached read (a millisecond) to a stream of attestations (minutes).
    private static readonly double[] Buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

    private readonly Histogram<double> _duration;

    public GrpcServerMetrics(IMeterFactory meters)
    {
        _duration = meters.Create(MeterName).CreateHistogram(
            "grpc.server.call.duration", unit: "s", description: "gRPC calls handled, by method and final status.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Buckets });
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        MeasureAsync(context, () => continuation(request, context));

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        MeasureAsync(context, () => continuation(requestStream, context));

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        MeasureAsync(context, async () =>
        {
            await continuation(request, responseStream, context);
            return true;
        });

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        MeasureAsync(context, async () =>
        {
            await continuation(requestStream, responseStream, context);
            return true;
        });

    private async Task<T> MeasureAsync<T>(ServerCallContext context, Func<Task<T>> call)
    {
        var started = Stopwatch.GetTimestamp();
        var status = StatusCode.Unknown;
        try
        {
            var result = await call();
            // A handler may also end the call by setting the status without throwing.
            status = context.Status.StatusCode;
            return result;
        }
        catch (RpcException e)
        {
            status = e.StatusCode;
            throw;
        }
        catch (Exception) when (context.CancellationToken.IsCancellationRequested)
        {
            // The caller went away, or the call's deadline passed (grpc-dotnet then answers
            // DEADLINE_EXCEEDED): whatever the handler threw then (a cancellation, or reading a
            // stream the client reset), it is not the server failing.
            status = context.Deadline <= DateTime.UtcNow ? StatusCode.DeadlineExceeded : StatusCode.Cancelled;
            throw;
        }
        finally
        {
            _duration.Record(
                Stopwatch.GetElapsedTime(started).TotalSeconds,
                new KeyValuePair<string, object?>("grpc.method", context.Method.TrimStart('/')),
                new KeyValuePair<string, object?>("grpc.status", StatusName(status)));
        }
    }

    /// <summary>The status as gRPC spells it on the wire and in its docs: DEADLINE_EXCEEDED, not DeadlineExceeded.</summary>
    private static string StatusName(StatusCode status) => status switch
    {
        StatusCode.OK => "OK",
        StatusCode.Cancelled => "CANCELLED",
        StatusCode.Unknown => "UNKNOWN",
        StatusCode.InvalidArgument => "INVALID_ARGUMENT",
        StatusCode.DeadlineExceeded => "DEADLINE_EXCEEDED",
        StatusCode.NotFound => "NOT_FOUND",
        StatusCode.AlreadyExists => "ALREADY_EXISTS",
        StatusCode.PermissionDenied => "PERMISSION_DENIED",
        StatusCode.ResourceExhausted => "RESOURCE_EXHAUSTED",
        StatusCode.FailedPrecondition => "FAILED_PRECONDITION",
        StatusCode.Aborted => "ABORTED",
        StatusCode.OutOfRange => "OUT_OF_RANGE",
        StatusCode.Unimplemented => "UNIMPLEMENTED",
        StatusCode.Internal => "INTERNAL",
        StatusCode.Unavailable => "UNAVAILABLE",
        StatusCode.DataLoss => "DATA_LOSS",
        StatusCode.Unauthenticated => "UNAUTHENTICATED",
        _ => ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
