using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Rpc;
using Grpc.Core;

namespace Oversight.IntegrationTests.Security;

/// <summary>What one call answered: its status, every response message, and the error's details.</summary>
public sealed record RpcOutcome(StatusCode Code, string Message, IReadOnlyList<IMessage> Responses, RpcException? Error)
{
    /// <summary>The google.rpc.BadRequest of an error, if it carries one.</summary>
    public BadRequest? BadRequest => Error?.GetRpcStatus()?.GetDetail<BadRequest>();

    /// <summary>Everything a caller could read: the responses as JSON, the status message and its details.</summary>
    public string Everything()
    {
        var text = string.Join("\n", Responses.Select(r => JsonFormatter.Default.Format(r)));
        if (Error is not null)
        {
            text += "\n" + Error.Status.Detail;
            foreach (var entry in Error.Trailers)
            {
                text += "\n" + entry.Key + "=" + (entry.IsBinary ? Convert.ToBase64String(entry.ValueBytes) : entry.Value);
            }

            // Details as their raw bytes: any string a detail carries shows, whatever its type.
            foreach (var detail in Error.GetRpcStatus()?.Details ?? [])
            {
                text += "\n" + detail.TypeUrl + " " + System.Text.Encoding.UTF8.GetString(detail.Value.Span);
            }
        }

        return text;
    }

    public override string ToString()
    {
        if (Code != StatusCode.OK)
        {
            return $"{Code}: {Message}";
        }

        // A stream of receipts shows what each says: a refused item is a REJECTED receipt, not a failed call.
        var receipts = Responses.OfType<Oversight.Attestation.V1.SubmitAttestationResponse>()
            .Select(r => $"{r.Receipt.Outcome} [{string.Join(", ", r.Receipt.ReasonCodes)}]").ToList();
        return receipts.Count > 0 ? $"OK: {string.Join("; ", receipts)}" : $"OK ({Responses.Count} responses)";
    }
}

/// <summary>
/// Calls any RPC from its protobuf descriptor, whatever its kind (unary, server streaming,
/// bidirectional), so that a test table can hold every method of a service without a
/// hand-written call per method.
/// </summary>
public static class RpcCall
{
    public static string NameOf(MethodDescriptor method) => $"{method.Service.Name}.{method.Name}";

    /// <summary>An empty request of the method's input type.</summary>
    public static IMessage Empty(MethodDescriptor method) => method.InputType.Parser.ParseFrom(ByteString.Empty);

    /// <summary>A deep copy of a request.</summary>
    public static IMessage Copy(IMessage message) => message.Descriptor.Parser.ParseFrom(message.ToByteString());

    /// <summary>
    /// Sends <paramref name="requests"/> (exactly one unless the method streams requests) and
    /// reads every response; never throws for a gRPC status.
    /// </summary>
    public static async Task<RpcOutcome> InvokeAsync(CallInvoker invoker, MethodDescriptor method, IReadOnlyList<IMessage> requests, Metadata? headers)
    {
        var type = (method.IsClientStreaming, method.IsServerStreaming) switch
        {
            (false, false) => MethodType.Unary,
            (false, true) => MethodType.ServerStreaming,
            (true, false) => MethodType.ClientStreaming,
            (true, true) => MethodType.DuplexStreaming,
        };
        var grpcMethod = new Method<IMessage, IMessage>(type, method.Service.FullName, method.Name, Marshaller(method.InputType), Marshaller(method.OutputType));
        var options = new CallOptions(headers ?? [], DateTime.UtcNow.AddSeconds(30));
        var responses = new List<IMessage>();
        try
        {
            switch (type)
            {
                case MethodType.Unary:
                    responses.Add(await invoker.AsyncUnaryCall(grpcMethod, null, options, requests.Single()));
                    break;
                case MethodType.ServerStreaming:
                    {
                        using var call = invoker.AsyncServerStreamingCall(grpcMethod, null, options, requests.Single());
                        while (await call.ResponseStream.MoveNext(CancellationToken.None))
                        {
                            responses.Add(call.ResponseStream.Current);
                        }

                        break;
                    }

                case MethodType.ClientStreaming:
                    {
                        using var call = invoker.AsyncClientStreamingCall(grpcMethod, null, options);
                        await WriteAllAsync(call.RequestStream, requests);
                        responses.Add(await call.ResponseAsync);
                        break;
                    }

                case MethodType.DuplexStreaming:
                    {
                        using var call = invoker.AsyncDuplexStreamingCall(grpcMethod, null, options);
                        var reading = Task.Run(async () =>
                        {
                            while (await call.ResponseStream.MoveNext(CancellationToken.None))
                            {
                                responses.Add(call.ResponseStream.Current);
                            }
                        });
                        await WriteAllAsync(call.RequestStream, requests);
                        await reading;
                        break;
                    }
            }

            return new RpcOutcome(StatusCode.OK, "", responses, null);
        }
        catch (RpcException e)
        {
            return new RpcOutcome(e.StatusCode, e.Status.Detail, responses, e);
        }
    }

    private static async Task WriteAllAsync(IClientStreamWriter<IMessage> writer, IReadOnlyList<IMessage> requests)
    {
        try
        {
            foreach (var request in requests)
            {
                await writer.WriteAsync(request);
            }

            await writer.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException)
        {
            // The server ended the call before reading everything (a refusal): its status is
            // what the response side reports.
        }
    }

    private static Marshaller<IMessage> Marshaller(MessageDescriptor type) =>
        Marshallers.Create<IMessage>(message => message.ToByteArray(), bytes => type.Parser.ParseFrom(bytes));
}
