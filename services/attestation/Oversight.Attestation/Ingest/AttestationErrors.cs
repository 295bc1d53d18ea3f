using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;

namespace Oversight.Attestation.Ingest;

/// <summary>
/// Errors of the attestation service: the precise status code, a message ending in the reason
/// code, a <c>google.rpc.ErrorInfo</c> carrying the reason, and for INVALID_ARGUMENT a
/// <c>google.rpc.BadRequest</c> naming the field (the same shape as Oversight.Hosting.Validation).
/// </summary>
public static class AttestationErrors
{
    public static RpcException Invalid(string reason, string field, string description) =>
        Build(Code.InvalidArgument, reason, $"{field}: {description} ({reason})", field,
            new BadRequest { FieldViolations = { new BadRequest.Types.FieldViolation { Field = field, Description = description } } });

    public static RpcException Of(StatusCode code, string reason, string field, string message) =>
        Build((Code)(int)code, reason, $"{message} ({reason})", field, detail: null);

    private static RpcException Build(Code code, string reason, string message, string field, BadRequest? detail)
    {
        var status = new Google.Rpc.Status { Code = (int)code, Message = message };
        if (detail is not null)
        {
            status.Details.Add(Any.Pack(detail));
        }

        status.Details.Add(Any.Pack(new ErrorInfo { Reason = reason, Domain = ReasonCodes.Domain, Metadata = { ["field"] = field } }));
        return status.ToRpcException();
    }
}
