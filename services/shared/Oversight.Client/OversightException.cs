using Google.Rpc;
using Grpc.Core;

namespace Oversight.Client;

/// <summary>
/// An error answered by an Oversight service, with what the service attached to it: the
/// <c>google.rpc.ErrorInfo</c> reason (e.g. <c>SIGNATURE_INVALID</c>) and the
/// <c>google.rpc.BadRequest</c> field violations. Every call made through the client throws a
/// subclass of this for a failed call; it is an <see cref="RpcException"/>, so code that catches
/// RpcException keeps working.
/// </summary>
public class OversightException : RpcException
{
    /// <summary>Wraps <paramref name="error"/>, keeping its status and trailers.</summary>
    public OversightException(RpcException error)
        : base(Require(error).Status, error.Trailers, error.Message)
    {
        RichStatus = error.GetRpcStatus();
        var violations = RichStatus?.GetDetail<BadRequest>()?.FieldViolations
            .Select(v => new OversightFieldViolation(v.Field, v.Description))
            .ToList();
        FieldViolations = violations ?? [];
        Reason = RichStatus?.GetDetail<ErrorInfo>()?.Reason is { Length: > 0 } reason ? reason : null;
    }

    /// <summary>The status code (the same as <see cref="RpcException.StatusCode"/>).</summary>
    public StatusCode Code => StatusCode;

    /// <summary>The machine-readable reason of <c>google.rpc.ErrorInfo</c>, when the service gave one (e.g. <c>KEY_REVOKED</c>).</summary>
    public string? Reason { get; }

    /// <summary>The fields the service found wrong (<c>google.rpc.BadRequest</c>); empty when it named none.</summary>
    public IReadOnlyList<OversightFieldViolation> FieldViolations { get; }

    /// <summary>The whole <c>google.rpc.Status</c> the service sent, when it sent one.</summary>
    public Google.Rpc.Status? RichStatus { get; }

    /// <summary>
    /// The typed exception for <paramref name="error"/>: <see cref="OversightValidationException"/>
    /// for INVALID_ARGUMENT, <see cref="OversightNotFoundException"/> for NOT_FOUND, and so on;
    /// <see cref="OversightException"/> itself for the other codes. An OversightException is returned as it is.
    /// </summary>
    public static OversightException From(RpcException error) => Require(error) switch
    {
        OversightException typed => typed,
        { StatusCode: StatusCode.InvalidArgument } => new OversightValidationException(error),
        { StatusCode: StatusCode.NotFound } => new OversightNotFoundException(error),
        { StatusCode: StatusCode.AlreadyExists } => new OversightConflictException(error),
        { StatusCode: StatusCode.FailedPrecondition } => new OversightPreconditionException(error),
        { StatusCode: StatusCode.Unauthenticated } => new OversightUnauthenticatedException(error),
        { StatusCode: StatusCode.PermissionDenied } => new OversightPermissionDeniedException(error),
        { StatusCode: StatusCode.Unavailable } => new OversightUnavailableException(error),
        _ => new OversightException(error),
    };

    private static RpcException Require(RpcException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error;
    }
}

/// <summary>One field the service refused, and why (<c>google.rpc.BadRequest.FieldViolation</c>).</summary>
/// <param name="Field">The field's path in the request, e.g. <c>account_id</c> or <c>attestation.signed_at</c>.</param>
/// <param name="Description">What is wrong with it.</param>
public sealed record OversightFieldViolation(string Field, string Description);

/// <summary>INVALID_ARGUMENT: the request was malformed. <see cref="OversightException.FieldViolations"/> names the fields.</summary>
public sealed class OversightValidationException : OversightException
{
    /// <summary>Wraps an INVALID_ARGUMENT error.</summary>
    public OversightValidationException(RpcException error)
        : base(error)
    {
    }

    /// <summary>The first field named, or null when the service named none.</summary>
    public string? Field => FieldViolations.Count > 0 ? FieldViolations[0].Field : null;
}

/// <summary>NOT_FOUND: the account, provider, attestation or lease does not exist (in the caller's marketplace).</summary>
public sealed class OversightNotFoundException(RpcException error) : OversightException(error);

/// <summary>ALREADY_EXISTS: the account or provider exists already, or an attestation conflicts with a stored one.</summary>
public sealed class OversightConflictException(RpcException error) : OversightException(error);

/// <summary>FAILED_PRECONDITION: the state forbids the call now (a suspended or erased account, a revoked key, ...).</summary>
public sealed class OversightPreconditionException(RpcException error) : OversightException(error);

/// <summary>UNAUTHENTICATED: no bearer token, or one the service does not accept (expired, wrong audience or key).</summary>
public sealed class OversightUnauthenticatedException(RpcException error) : OversightException(error);

/// <summary>PERMISSION_DENIED: the token's role or marketplace may not make this call.</summary>
public sealed class OversightPermissionDeniedException(RpcException error) : OversightException(error);

/// <summary>UNAVAILABLE after any retries: the service cannot answer now (enforcement fails closed while its counters are unavailable).</summary>
public sealed class OversightUnavailableException(RpcException error) : OversightException(error);

/// <summary>A tier token, checkpoint or proof did not verify: the data must not be trusted.</summary>
public sealed class OversightVerificationException(string message) : Exception(message);
