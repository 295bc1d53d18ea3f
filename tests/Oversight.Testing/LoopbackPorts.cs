using System.Net;
using System.Net.Sockets;

namespace Oversight.Testing;

/// <summary>
/// Ports for servers the tests start on 127.0.0.1. They are drawn below Linux's ephemeral range
/// (32768-60999 by default) on purpose: a port the OS hands out for port 0 is free only until the
/// next outgoing connection takes it as its local port, and the test run makes many (Redis,
/// RabbitMQ, PostgreSQL, gRPC). CI once failed on exactly that race.
/// </summary>
public static class LoopbackPorts
{
    /// <summary>Where service hosts (Kestrel) listen.</summary>
    public const int ServiceMin = 24000, ServiceMax = 30000;

    private static readonly Random PortRandom = new();
    private static readonly HashSet<int> Handed = new();

    /// <summary>A port in [min, max) that can be bound on 127.0.0.1 now and was not handed out
    /// before by this process. Another test process may still take it first: starters retry
    /// on "address in use" (see <see cref="IsAddressInUse"/>).</summary>
    public static int Free(int min = ServiceMin, int max = ServiceMax)
    {
        for (var attempt = 0; attempt < 500; attempt++)
        {
            int port;
            lock (PortRandom)
            {
                port = PortRandom.Next(min, max);
                if (!Handed.Add(port)) continue;
            }
            try
            {
                var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                listener.Stop();
                return port;
            }
            catch (SocketException)
            {
                // taken, try another
            }
        }
        throw new InvalidOperationException($"no free port on 127.0.0.1 in [{min}, {max})");
    }

    /// <summary>True when starting a server failed only because its port was taken meanwhile.</summary>
    public static bool IsAddressInUse(Exception exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is Microsoft.AspNetCore.Connections.AddressInUseException ||
                e is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse })
            {
                return true;
            }
        }
        return false;
    }
}
