using System.Threading.Channels;
using Google.Rpc;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Oversight.Attestation.V1;
using Oversight.Hosting;
using Oversight.Hosting.Auth;

namespace Oversight.Attestation.Ingest;

/// <summary>
/// StreamAttestations: many attestations on one call, one receipt per request in request order.
/// </summary>
/// <remarks>
/// A pipeline of three stages. The reader checks each request's shape and the caller's right
/// to submit it; a request that fails is answered with a REJECTED receipt, in its place.
/// Requests are then taken in batches of whatever has arrived (at most StreamBatchSize): a batch
/// is verified (signatures in parallel) while the previous one is stored (one transaction,
/// leaf indexes assigned under the log_state row lock), and its receipts are written once it is
/// committed. A refused item never ends the stream; only a failure of the database (or the
/// client going away) does, and then nothing of the batch in flight was committed, so the client
/// resends what has no receipt (submissions are idempotent).
/// </remarks>
public sealed class AttestationStream(IServiceScopeFactory scopes, IOptions<AttestationOptions> options, AttestationMetrics metrics)
{
    private readonly AttestationOptions _options = options.Value;

    public async Task RunAsync(
        Caller caller,
        IAsyncStreamReader<SubmitAttestationRequest> requests,
        IServerStreamWriter<SubmitAttestationResponse> responses,
        CancellationToken cancellationToken)
    {
        var batchSize = _options.StreamBatchSize;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var channel = Channel.CreateBounded<StreamItem>(new BoundedChannelOptions(batchSize * 2) { SingleReader = true, SingleWriter = true });
        // Two units of work: the batch being verified and the batch being stored use their own database connections.
        await using var verifyScope = scopes.CreateAsyncScope();
        await using var storeScope = scopes.CreateAsyncScope();
        var verifier = verifyScope.ServiceProvider.GetRequiredService<AttestationIngest>();
        var storer = storeScope.ServiceProvider.GetRequiredService<AttestationIngest>();

        var reading = ReadAsync(caller, requests, channel.Writer, stop.Token);
        var storing = Task.CompletedTask;
        try
        {
            while (await channel.Reader.WaitToReadAsync(stop.Token))
            {
                var batch = new List<StreamItem>(batchSize);
                while (batch.Count < batchSize && channel.Reader.TryRead(out var item))
                {
                    batch.Add(item);
                }

                var verified = await verifier.VerifyAsync([.. batch.Where(i => i.Rejected is null).Select(i => i.Request)], stop.Token);
                await storing;
                storing = StoreAndAnswerAsync(storer, batch, verified, responses, stop.Token);
            }

            await storing;
            await reading;
        }
        catch
        {
            await stop.CancelAsync();
            await Task.WhenAll(Quietly(reading), Quietly(storing));
            throw;
        }
    }

    private async Task ReadAsync(Caller caller, IAsyncStreamReader<SubmitAttestationRequest> requests, ChannelWriter<StreamItem> writer, CancellationToken cancellationToken)
    {
        // Off the caller's thread, so the first batch is verified while more requests arrive.
        await Task.Yield();
        try
        {
            while (await requests.MoveNext(cancellationToken))
            {
                var request = requests.Current;
                await writer.WriteAsync(new StreamItem(request, Check(caller, request)), cancellationToken);
            }

            writer.TryComplete();
        }
        catch (Exception e)
        {
            writer.TryComplete(e);
            throw;
        }
    }

    // What the unary RPC checks before the verifier: the request's shape and the caller's right to it.
    private Receipt? Check(Caller caller, SubmitAttestationRequest request)
    {
        try
        {
            AttestationValidator.Validate(request, _options.MaxIntervalDuration);
            if (!string.Equals(caller.Provider, request.Attestation.ProviderId, StringComparison.Ordinal))
            {
                throw AttestationErrors.Of(StatusCode.PermissionDenied, ReasonCodes.PermissionDenied, "attestation.provider_id",
                    "attestation.provider_id is not the token's provider: a provider attests only for itself.");
            }

            if (!string.Equals(caller.Marketplace, request.Attestation.MarketplaceId, StringComparison.Ordinal))
            {
                throw AttestationErrors.Of(StatusCode.PermissionDenied, ReasonCodes.PermissionDenied, "attestation.marketplace_id",
                    "The caller's token is not valid for attestation.marketplace_id; a caller acts only inside its own marketplace.");
            }

            return null;
        }
        catch (RpcException e)
        {
            metrics.Refused(e.StatusCode);
            return Rejected(request, e, _options.AppraisalPolicyVersion);
        }
    }

    private async Task StoreAndAnswerAsync(AttestationIngest storer, List<StreamItem> batch, VerifiedBatch verified, IServerStreamWriter<SubmitAttestationResponse> responses, CancellationToken cancellationToken)
    {
        var results = await storer.StoreAsync(verified, cancellationToken);
        var next = 0;
        foreach (var item in batch)
        {
            var receipt = item.Rejected;
            if (receipt is null)
            {
                var result = results[next++];
                receipt = result.Receipt ?? Rejected(item.Request, result.Error!, _options.AppraisalPolicyVersion);
            }

            await responses.WriteAsync(new SubmitAttestationResponse { Receipt = receipt }, cancellationToken);
        }
    }

    /// <summary>
    /// The receipt that answers a refused item on the stream: outcome REJECTED; reason_codes
    /// holds the reason the unary RPC would give (ErrorInfo.reason, or MALFORMED for field
    /// violations), then <c>field:&lt;path&gt;</c> for each field the error names.
    /// </summary>
    public static Receipt Rejected(SubmitAttestationRequest request, RpcException error, string appraisalPolicyVersion)
    {
        var id = request.Attestation?.AttestationId ?? "";
        var receipt = new Receipt
        {
            // An id that failed validation is not echoed (it may be anything, of any length).
            AttestationId = Validation.IsId(id) ? id : "",
            Outcome = Outcome.Rejected,
            AppraisalPolicyVersion = appraisalPolicyVersion,
        };
        receipt.ReasonCodes.AddRange(ReasonsOf(error));
        return receipt;
    }

    private static IEnumerable<string> ReasonsOf(RpcException error)
    {
        var status = error.GetRpcStatus();
        var info = status?.GetDetail<ErrorInfo>();
        var badRequest = status?.GetDetail<BadRequest>();
        var fields = new List<string>();
        if (info is not null && info.Metadata.TryGetValue("field", out var field))
        {
            fields.Add(field);
        }

        fields.AddRange(badRequest?.FieldViolations.Select(v => v.Field) ?? []);
        var reason = info?.Reason ?? (badRequest is not null ? ReasonCodes.Malformed : ScreamingSnake(error.StatusCode.ToString()));
        return [reason, .. fields.Distinct().Select(f => "field:" + f)];
    }

    // "PermissionDenied" -> "PERMISSION_DENIED", the status's name in the gRPC documentation.
    private static string ScreamingSnake(string name) =>
        string.Concat(name.Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + c : char.ToUpperInvariant(c).ToString()));

    private static async Task Quietly(Task task)
    {
        try
        {
            await task;
        }
        catch
        {
            // The first failure is the one the caller sees.
        }
    }

    private sealed record StreamItem(SubmitAttestationRequest Request, Receipt? Rejected);
}
