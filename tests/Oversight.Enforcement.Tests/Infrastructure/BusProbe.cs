using System.Collections.Concurrent;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Contracts;
using Oversight.Testing;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>Counts the UsageAttested messages an enforcement host's consumer has finished, by attestation id.</summary>
public sealed class UsageProbe : IConsumeMessageObserver<UsageAttested>, IDisposable
{
    private readonly ConcurrentDictionary<string, int> _consumed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _faulted = new(StringComparer.Ordinal);
    private readonly ConnectHandle _handle;

    public UsageProbe(ServiceHost host) => _handle = host.Services.GetRequiredService<IBus>().ConnectConsumeMessageObserver(this);

    public int Consumed(string attestationId) => _consumed.GetValueOrDefault(attestationId);

    /// <summary>Attempts that failed (Redis down): each is retried; none should reach the error queue.</summary>
    public int Faulted => _faulted.Values.Sum();

    public Task WaitUntilConsumedAsync(IEnumerable<string> attestationIds, int times = 1, int seconds = 60)
    {
        var ids = attestationIds.ToArray();
        return Eventually.TrueAsync(() => Task.FromResult(ids.All(id => Consumed(id) >= times)),
            () => $"UsageAttested {string.Join(", ", ids)} consumed {times} time(s) (so far: {string.Join(", ", ids.Select(Consumed))})", seconds);
    }

    public Task PreConsume(ConsumeContext<UsageAttested> context) => Task.CompletedTask;

    public Task PostConsume(ConsumeContext<UsageAttested> context)
    {
        _consumed.AddOrUpdate(context.Message.AttestationId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }

    public Task ConsumeFault(ConsumeContext<UsageAttested> context, Exception exception)
    {
        _faulted.AddOrUpdate(context.Message.AttestationId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }

    public void Dispose() => _handle.Disconnect();
}
