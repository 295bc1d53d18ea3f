using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Oversight.Testing;

namespace Oversight.Client.Tests.Testing;

/// <summary>The test servers' ports: what lets every suite start hosts beside the others.</summary>
public sealed class LoopbackPortsTests
{
    [Fact]
    public void Free_GivesDistinctBindablePorts_OutsideTheEphemeralRange()
    {
        var ports = Enumerable.Range(0, 50).Select(_ => LoopbackPorts.Free()).ToList();

        Assert.Equal(ports.Count, ports.Distinct().Count());
        Assert.All(ports, port => Assert.InRange(port, LoopbackPorts.ServiceMin, LoopbackPorts.ServiceMax - 1));
        // Outgoing connections take their local port from the ephemeral range: a port there can be
        // taken between the check and the bind.
        var (ephemeralLow, _) = EphemeralRange();
        Assert.True(LoopbackPorts.ServiceMax <= ephemeralLow, $"service ports reach into the ephemeral range from {ephemeralLow}");
    }

    [Fact]
    public async Task IsAddressInUse_RecognisesKestrelFailingOnATakenPort_AndNothingElse()
    {
        using var held = new TcpListener(IPAddress.Loopback, 0);
        held.Start();
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, ((IPEndPoint)held.LocalEndpoint).Port));
        await using var app = builder.Build();

        var error = await Record.ExceptionAsync(() => app.StartAsync());

        Assert.NotNull(error);
        Assert.True(LoopbackPorts.IsAddressInUse(error), error.ToString());
        Assert.False(LoopbackPorts.IsAddressInUse(new InvalidOperationException("bad configuration", new SocketException((int)SocketError.AccessDenied))));
    }

    private static (int Low, int High) EphemeralRange()
    {
        const string path = "/proc/sys/net/ipv4/ip_local_port_range";
        if (!File.Exists(path))
        {
            return (32768, 60999); // Linux's default; other systems start theirs higher
        }

        var parts = File.ReadAllText(path).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return (int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }
}
