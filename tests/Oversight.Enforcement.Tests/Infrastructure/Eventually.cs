using Google.Rpc;
using Grpc.Core;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>Waits for what crosses the bus asynchronously; a condition, never a fixed sleep, decides.</summary>
public static class Eventually
{
    public static Task TrueAsync(Func<Task<bool>> condition, string what, int seconds = 60) => TrueAsync(condition, () => what, seconds);

    /// <param name="what">Describes what was awaited, evaluated when the wait fails (it may report the last value seen).</param>
    public static async Task TrueAsync(Func<Task<bool>> condition, Func<string> what, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"Timed out after {seconds} s waiting for {what()}.");
            }

            await Task.Delay(100);
        }
    }
}

public static class RpcAssert
{
    /// <summary>The call fails with <paramref name="code"/>; returns the exception.</summary>
    public static async Task<RpcException> FailsAsync<T>(StatusCode code, Func<AsyncUnaryCall<T>> call)
    {
        var exception = await Assert.ThrowsAsync<RpcException>(async () => await call().ResponseAsync);
        Assert.True(code == exception.StatusCode, $"Expected {code}, got {exception.StatusCode}: {exception.Status.Detail}");
        return exception;
    }

    /// <summary>The call fails with INVALID_ARGUMENT carrying a google.rpc.BadRequest violation of exactly <paramref name="field"/>.</summary>
    public static async Task<BadRequest.Types.FieldViolation> InvalidArgumentAsync<T>(string field, Func<AsyncUnaryCall<T>> call)
    {
        var exception = await FailsAsync(StatusCode.InvalidArgument, call);
        var status = exception.GetRpcStatus() ?? throw new Xunit.Sdk.XunitException($"INVALID_ARGUMENT without google.rpc.Status details: {exception.Status.Detail}");
        var badRequest = status.GetDetail<BadRequest>() ?? throw new Xunit.Sdk.XunitException($"INVALID_ARGUMENT without a BadRequest: {exception.Status.Detail}");
        var violation = badRequest.FieldViolations.FirstOrDefault(v => v.Field == field);
        Assert.True(violation is not null, $"Expected a violation of '{field}'; got: {string.Join("; ", badRequest.FieldViolations.Select(v => $"{v.Field}: {v.Description}"))}");
        Assert.False(string.IsNullOrWhiteSpace(violation!.Description));
        Assert.Contains(field, exception.Status.Detail, StringComparison.Ordinal);
        return violation;
    }
}
