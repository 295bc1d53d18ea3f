using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Oversight.Hosting;
using Oversight.Policy.Counters;

namespace Oversight.Enforcement.Counters;

/// <summary>
/// The embedded default keeps its counters in memory. Usage comes back from the ledger after a
/// restart, but the holds of running leases are in no ledger: without them a restart hands out
/// budget that running leases still use. So the holds are written to the data folder every few
/// seconds and at a graceful stop, and read back at start, before the first request (the tags'
/// rebuilds keep them). A crash loses the holds made since the last write; holds that ended since
/// come back and last until their lease's next attestation or their expiry, erring towards refusing.
/// </summary>
internal sealed class HoldsSnapshot(
    InMemoryCounterStore store, TimeProvider clock, IOptions<HostingOptions> hosting, ILogger<HoldsSnapshot> logger) : BackgroundService
{
    public const string FileName = "enforcement-holds.json";

    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);
    private string _written = "";

    private sealed record Saved(string Tag, string Lease, string Account, long FlopUnits, long GpuSeconds, long ExpiresAt, string? Terms);

    private string Path => System.IO.Path.Combine(hosting.Value.DataDirectory, FileName);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (File.Exists(Path))
        {
            Saved[] saved;
            try
            {
                _written = await File.ReadAllTextAsync(Path, cancellationToken);
                saved = JsonSerializer.Deserialize<Saved[]>(_written) ?? [];
            }
            catch (JsonException e)
            {
                // A torn write (power loss before the data reached the disk): start without the holds, as before they were kept.
                var aside = Path + ".unreadable";
                File.Move(Path, aside, overwrite: true);
                logger.LogWarning(e, "The holds of running leases in {File} could not be read (moved to {Aside}); starting without them", Path, aside);
                await base.StartAsync(cancellationToken);
                return;
            }

            var now = clock.GetUtcNow().ToUnixTimeSeconds();
            foreach (var tag in saved.GroupBy(s => s.Tag, StringComparer.Ordinal))
            {
                await store.RestoreHoldsAsync(tag.Key, now, [.. tag.Select(s => new CounterHold(s.Lease, s.Account, s.FlopUnits, s.GpuSeconds, s.ExpiresAt, s.Terms))], cancellationToken);
            }

            logger.LogInformation("Restored {Count} holds of running leases from {File}", saved.Count(s => s.ExpiresAt > now), Path);
        }

        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await WriteAsync(CancellationToken.None);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // The holds stay in memory; the next tick tries again.
                    logger.LogWarning(e, "The holds of running leases could not be written to {File}", Path);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: StopAsync writes the last state.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await WriteAsync(cancellationToken);
    }

    private async Task WriteAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().ToUnixTimeSeconds();
        var saved = new List<Saved>();
        foreach (var tag in store.Tags)
        {
            foreach (var hold in await store.ReadHoldsAsync(tag, now, cancellationToken))
            {
                saved.Add(new Saved(tag, hold.LeaseId, hold.AccountId, hold.FlopUnits, hold.GpuSeconds, hold.ExpiresAt, hold.Terms));
            }
        }

        var text = JsonSerializer.Serialize(saved);
        if (text == _written)
        {
            return;
        }

        // A temporary file, flushed to the disk, then moved into place: a crash mid-write leaves the
        // previous snapshot whole. Owner-only, like the rest of the data folder (it names accounts).
        var temporary = Path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using (var file = new FileStream(temporary, options))
        {
            await file.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text), cancellationToken);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, Path, overwrite: true);
        _written = text;
    }
}
