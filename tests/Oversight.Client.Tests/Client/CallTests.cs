using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Client;
using Oversight.Kyc.V1;

namespace Oversight.Client.Tests.Client;

/// <summary>Deadlines and retries, against loopback sockets that misbehave on purpose.</summary>
public sealed class CallTests
{
    [Fact]
    public async Task ACallWithoutADeadline_GetsTheDefaultOne()
    {
        // Accepts connections and never answers.
        using var silent = new Listener(closeAtOnce: false);
        using var services = OptionsTests.Build(new()
        {
            ["Oversight:Client:Address"] = silent.Address,
            ["Oversight:Client:DefaultDeadline"] = "00:00:00.5",
        });
        var client = services.GetRequiredService<OversightClient>();

        var started = DateTime.UtcNow;
        var error = await Assert.ThrowsAsync<OversightException>(() =>
            client.Kyc.GetAccountAsync(new GetAccountRequest { MarketplaceId = "m", AccountId = "a" }).ResponseAsync);

        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Unavailable_IsRetriedForIdempotentCallsOnly()
    {
        // Closes every connection at once: each attempt fails with UNAVAILABLE.
        using var closing = new Listener(closeAtOnce: true);
        using var services = OptionsTests.Build(new()
        {
            ["Oversight:Client:Address"] = closing.Address,
            ["Oversight:Client:Retry:MaxAttempts"] = "3",
            ["Oversight:Client:Retry:InitialBackoff"] = "00:00:00.01",
            ["Oversight:Client:Retry:MaxBackoff"] = "00:00:00.05",
        });
        var client = services.GetRequiredService<OversightClient>();

        // CreateAccount is not idempotent: one attempt. (The HTTP handler itself may open more than
        // one connection for an attempt whose connection closes before the request is sent.)
        await Assert.ThrowsAsync<OversightUnavailableException>(() =>
            client.Kyc.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = "m", AccountId = "a" }).ResponseAsync);
        var perAttempt = closing.Accepted;
        Assert.InRange(perAttempt, 1, 2);

        // GetAccount reads only: three attempts.
        closing.Reset();
        await Assert.ThrowsAsync<OversightUnavailableException>(() =>
            client.Kyc.GetAccountAsync(new GetAccountRequest { MarketplaceId = "m", AccountId = "a" }).ResponseAsync);
        Assert.Equal(3 * perAttempt, closing.Accepted);
    }

    [Fact]
    public void IdempotentMethods_AreReadsAndKeyedWrites_NeverPlainWrites()
    {
        var methods = OversightRetryPolicy.IdempotentMethods;

        Assert.Contains("oversight.enforcement.v1.ThresholdEnforcement/Authorize", methods.Keys);
        Assert.Contains("oversight.attestation.v1.WorkloadAttestation/SubmitAttestation", methods.Keys);
        Assert.Contains("oversight.kyc.v1.KycTiering/GetAccount", methods.Keys);
        foreach (var write in new[] { "kyc.v1.KycTiering/CreateAccount", "kyc.v1.KycTiering/StatePurpose", "kyc.v1.KycTiering/EraseAccount", "attestation.v1.WorkloadAttestation/RegisterProvider", "attestation.v1.WorkloadAttestation/StreamAttestations", "enforcement.v1.ThresholdEnforcement/SetPolicy" })
        {
            Assert.DoesNotContain("oversight." + write, methods.Keys);
        }

        Assert.All(methods.Values, why => Assert.False(string.IsNullOrWhiteSpace(why)));
        var config = OversightRetryPolicy.ServiceConfig(new OversightRetryOptions());
        var policy = Assert.Single(config.MethodConfigs).RetryPolicy!;
        Assert.Equal([StatusCode.Unavailable], policy.RetryableStatusCodes);
        Assert.Equal(methods.Count, config.MethodConfigs[0].Names.Count);
        Assert.Empty(OversightRetryPolicy.ServiceConfig(new OversightRetryOptions { MaxAttempts = 1 }).MethodConfigs);
    }

    /// <summary>A loopback TCP listener that counts connections and either closes them at once or holds them.</summary>
    private sealed class Listener : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<Socket> _held = [];
        private readonly CancellationTokenSource _stop = new();
        private int _accepted;

        public Listener(bool closeAtOnce)
        {
            _listener.Start();
            _ = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    Socket socket;
                    try
                    {
                        socket = await _listener.AcceptSocketAsync(_stop.Token);
                    }
                    catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                    {
                        return;
                    }

                    Interlocked.Increment(ref _accepted);
                    if (closeAtOnce)
                    {
                        socket.Close();
                    }
                    else
                    {
                        lock (_held)
                        {
                            _held.Add(socket);
                        }
                    }
                }
            });
        }

        public string Address => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

        public int Accepted => Volatile.Read(ref _accepted);

        public void Reset() => Interlocked.Exchange(ref _accepted, 0);

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_held)
            {
                _held.ForEach(s => s.Dispose());
            }

            _stop.Dispose();
        }
    }
}
