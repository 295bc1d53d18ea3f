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
        Caller.From(context).RequireRole(Roles.Admin);
        if (clock is not SimulatedTimeProvider simulated)
        {
            throw new RpcException(new Status(
                StatusCode.FailedPrecondition,
                "Simulation mode is off: set Oversight:Simulation:Enabled=true (refused in Production)."));
        }

        if (request.Now is null)
        {
            throw Validation.Invalid("now", "now is required.");
        }

        var now = request.Now.ToDateTimeOffset();
        if (!simulated.TrySet(now))
        {
            throw new RpcException(new Status(
                StatusCode.FailedPrecondition,
                $"The clock never moves backwards: it is already {simulated.GetUtcNow():O}."));
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
