using Google.Rpc;
using Grpc.Core;

namespace Oversight.Attestation.Tests;

public static class Assertions
{
    /// <summary>Awaits a call that must fail with <paramref name="code"/>; returns the exception.</summary>
    public static async Task<RpcException> Refused(StatusCode code, Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<RpcException>(call);
        Assert.True(code == e.StatusCode, $"expected {code}, got {e.StatusCode}: {e.Status.Detail}");
        return e;
    }

    /// <summary>The INVALID_ARGUMENT names <paramref name="field"/> in its message and its BadRequest detail.</summary>
    public static void NamesField(RpcException e, string field)
    {
        Assert.Contains(field, e.Status.Detail);
        var badRequest = e.GetRpcStatus()?.GetDetail<BadRequest>();
        Assert.NotNull(badRequest);
        Assert.Contains(badRequest!.FieldViolations, v => v.Field == field);
    }

    /// <summary>The error carries <paramref name="reason"/> as ErrorInfo.reason and in its message.</summary>
    public static void HasReason(RpcException e, string reason)
    {
        Assert.Contains(reason, e.Status.Detail);
        Assert.Equal(reason, e.GetRpcStatus()?.GetDetail<ErrorInfo>()?.Reason);
    }
}
