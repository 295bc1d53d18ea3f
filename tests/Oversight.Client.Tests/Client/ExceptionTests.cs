using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Oversight.Client;
using Oversight.Common.V1;
using Oversight.Enforcement.V1;

namespace Oversight.Client.Tests.Client;

public sealed class ExceptionTests
{
    [Fact]
    public void InvalidArgument_WithBadRequest_BecomesAValidationExceptionNamingTheFields()
    {
        var status = new Google.Rpc.Status
        {
            Code = (int)Code.InvalidArgument,
            Message = "attestation.signed_at: must be whole seconds. key_id: key_id is required.",
            Details =
            {
                Any.Pack(new BadRequest
                {
                    FieldViolations =
                    {
                        new BadRequest.Types.FieldViolation { Field = "attestation.signed_at", Description = "must be whole seconds." },
                        new BadRequest.Types.FieldViolation { Field = "key_id", Description = "key_id is required." },
                    },
                }),
                Any.Pack(new ErrorInfo { Reason = "MALFORMED", Domain = "oversight" }),
            },
        };

        var error = Assert.IsType<OversightValidationException>(OversightException.From(status.ToRpcException()));

        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("attestation.signed_at", error.Field);
        Assert.Equal(["attestation.signed_at", "key_id"], error.FieldViolations.Select(v => v.Field));
        Assert.Equal("must be whole seconds.", error.FieldViolations[0].Description);
        Assert.Equal("MALFORMED", error.Reason);
        Assert.Equal(status.Message, error.Status.Detail);
        Assert.NotNull(error.RichStatus);
    }

    [Theory]
    [InlineData(Grpc.Core.StatusCode.NotFound, typeof(OversightNotFoundException))]
    [InlineData(Grpc.Core.StatusCode.AlreadyExists, typeof(OversightConflictException))]
    [InlineData(Grpc.Core.StatusCode.FailedPrecondition, typeof(OversightPreconditionException))]
    [InlineData(Grpc.Core.StatusCode.Unauthenticated, typeof(OversightUnauthenticatedException))]
    [InlineData(Grpc.Core.StatusCode.PermissionDenied, typeof(OversightPermissionDeniedException))]
    [InlineData(Grpc.Core.StatusCode.Unavailable, typeof(OversightUnavailableException))]
    [InlineData(Grpc.Core.StatusCode.Internal, typeof(OversightException))]
    public void EachStatusCode_HasItsType_AndPlainStatusesHaveNoDetails(Grpc.Core.StatusCode code, System.Type expected)
    {
        var error = OversightException.From(new RpcException(new Grpc.Core.Status(code, "no")));

        Assert.IsType(expected, error);
        Assert.Empty(error.FieldViolations);
        Assert.Null(error.Reason);
        Assert.Same(error, OversightException.From(error));
    }

    [Theory]
    [InlineData(Verdict.Allow, LeaseDecisionKind.Allow, true)]
    [InlineData(Verdict.AllowNearLimit, LeaseDecisionKind.Allow, true)]
    [InlineData(Verdict.RequireStatedPurpose, LeaseDecisionKind.StatePurpose, false)]
    [InlineData(Verdict.RequireIdentity, LeaseDecisionKind.VerifyIdentity, false)]
    [InlineData(Verdict.RequireOrganisation, LeaseDecisionKind.VerifyOrganisation, false)]
    [InlineData(Verdict.Deny, LeaseDecisionKind.Deny, false)]
    [InlineData(Verdict.Unspecified, LeaseDecisionKind.Deny, false)]
    [InlineData((Verdict)99, LeaseDecisionKind.Deny, false)]
    public void Verdicts_ReadAsDecisions_AndAnUnknownOneDenies(Verdict verdict, LeaseDecisionKind kind, bool allowed)
    {
        var decision = LeaseDecision.From(new AuthorizeResponse
        {
            Verdict = verdict,
            Message = "why",
            RequiredTier = new Tier { Id = "identity_verified", Level = 2 },
        });

        Assert.Equal(kind, decision.Kind);
        Assert.Equal(allowed, decision.IsAllowed);
        Assert.Equal(verdict == Verdict.AllowNearLimit, decision.IsNearLimit);
        Assert.Equal("why", decision.Message);
        Assert.Equal("identity_verified", decision.RequiredTier!.Id);
    }
}
