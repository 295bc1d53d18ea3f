using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using Oversight.Hosting;
using Oversight.Hosting.Clock;

namespace Oversight.AllInOne;

/// <summary>Tells a newcomer where the embedded default listens and what to do next.</summary>
internal static class StartupBanner
{
    public static void Print(WebApplication app)
    {
        var hosting = app.Services.GetRequiredService<IOptions<HostingOptions>>().Value;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        Console.WriteLine();
        Console.WriteLine("Oversight (all-in-one) is running.");
        foreach (var address in addresses)
        {
            Console.WriteLine($"  listening on {address}");
        }

        Console.WriteLine($"  gRPC (HTTP/2):           port {hosting.GrpcPort}: KYC, attestation, enforcement, grpc.health.v1, reflection");
        Console.WriteLine($"  health (HTTP/1.1):       port {hosting.HealthPort}: /healthz/live, /healthz/ready");
        Console.WriteLine($"  data folder:             {Path.GetFullPath(hosting.DataDirectory)}");
        Console.WriteLine($"  environment:             {app.Environment.EnvironmentName}");
        Console.WriteLine(app.Services.GetService<SimulatedTimeProvider>() is null
            ? "  clock:                   the system's (Oversight__Simulation__Enabled=true makes it settable, for oversight-replay live)"
            : "  clock:                   simulated: admins set it with SetClock (oversight-replay live does)");
        // With this host's own data folder: a token signed with another folder's key is refused.
        Console.WriteLine("  a token for calls:       dotnet run --project services/host/Oversight.AllInOne --no-launch-profile -- token --role operator --marketplace demo"
            + $" --data '{Path.GetFullPath(hosting.DataDirectory)}'");
        Console.WriteLine();
    }
}
