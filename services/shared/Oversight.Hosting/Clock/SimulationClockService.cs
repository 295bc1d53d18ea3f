using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Oversight.Common.V1;
using Oversight.Hosting.Auth;

namespace Oversight.Hosting.Clock;

/// <summary>oversight.common.v1.SimulationClock, served by every host.</summary>
[Authorize]
public sealed class SimulationClockService(TimeProvider clock) : SimulationClock.SimulationClockBase
{
    public override Task<SetClockResponse> SetClock(SetClockRequest request, ServerCallContext context)
    {
        Caller.From(context).RequireRole(Roles.Admin).RequireDeploymentWide();
        if (clock is not SimulatedTimeProvider simulated)
        {
            throw new RpcException(new Status(
                StatusCode.FailedPrecondition,
                "Simulation mode is off: set Oversight:Simulation:Enabled=true (refused in Production)."));
        }

        // Timestamp's own range (0001-01-01 to 9999-12-31, nanos 0..999,999,999): outside it
        // the conversion would throw.
        new Validation()
            .Check(request.Now is not null, "now", "now is required.")
            .Check(request.Now is null || (request.Now.Seconds is >= -62_135_596_800 and <= 253_402_300_799 && request.Now.Nanos is >= 0 and <= 999_999_999),
                "now", "now must be a valid timestamp between 0001-01-01 and 9999-12-31 with nanos in 0..999,999,999.")
            .ThrowIfInvalid();

        var now = request.Now!.ToDateTimeOffset();
        if (!simulated.TrySet(now))
        {
            throw new RpcException(new Status(
                StatusCode.FailedPrecondition,
                $"now: the clock never moves backwards; it is already {simulated.GetUtcNow():O}."));
        }

        return Task.FromResult(new SetClockResponse { Now = Timestamp.FromDateTimeOffset(simulated.GetUtcNow()) });
    }

    public override Task<GetClockResponse> GetClock(GetClockRequest request, ServerCallContext context)
    {
        Caller.From(context);
        return Task.FromResult(new GetClockResponse
        {
            Now = Timestamp.FromDateTimeOffset(clock.GetUtcNow()),
            Simulated = clock is SimulatedTimeProvider,
        });
    }
}
