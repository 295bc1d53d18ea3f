using Grpc.Core;

namespace Oversight.Kyc.Tests;

public static class RpcAssert
{
    /// <summary>The call fails with <paramref name="code"/>; the message names <paramref name="mentions"/> when given.</summary>
    public static async Task<RpcException> FailsAsync<T>(StatusCode code, Func<AsyncUnaryCall<T>> call, string? mentions = null)
    {
        var exception = await Assert.ThrowsAsync<RpcException>(async () => await call().ResponseAsync);
        Assert.True(code == exception.StatusCode, $"Expected {code}, got {exception.StatusCode}: {exception.Status.Detail}");
        if (mentions is not null)
        {
            Assert.Contains(mentions, exception.Status.Detail, StringComparison.Ordinal);
        }

        return exception;
    }
}
