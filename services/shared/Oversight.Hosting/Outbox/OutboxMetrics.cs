using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Oversight.Hosting.Outbox;

/// <summary>
/// OpenTelemetry metrics of the outboxes (meter "Oversight.Outbox"), each series tagged
/// <c>outbox</c> with the service whose table it is (kyc, attestation, enforcement): the
/// all-in-one host has three outboxes. Exported to Prometheus as <c>oversight_outbox_waiting</c>,
/// <c>oversight_outbox_oldest_waiting_age_seconds</c>, <c>oversight_outbox_published_total</c>
/// and <c>oversight_outbox_publish_failures_total</c> (tagged <c>reason</c> too).
/// </summary>
/// <remarks>
/// The gauges read the figures each publisher last took from its table (<see cref="Outbox.Waiting"/>),
/// not the database: a scrape costs nothing. The age is counted from the oldest waiting row's
/// CreatedAt at the time of the scrape, so it keeps growing while the database cannot be read.
/// </remarks>
public sealed class OutboxMetrics
{
    public const string MeterName = HostingExtensions.TelemetryPrefix + "Outbox";

    /// <summary>Reason of a failed attempt: the broker returned a mandatory event no queue receives.</summary>
    public const string NotRouted = "not_routed";

    /// <summary>Reason of any other failed attempt (broker or database unavailable, timeout).</summary>
    public const string Error = "error";

    private readonly ConcurrentDictionary<string, Outbox> _outboxes = new();
    private readonly Counter<long> _published;
    private readonly Counter<long> _failures;

    public OutboxMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        meter.CreateObservableGauge("oversight.outbox.waiting",
            () => _outboxes.Values.Where(o => o.Figures is not null).Select(o => new Measurement<long>(o.Figures!.Count, o.Tag)),
            description: "Events committed and not yet published, by outbox.");
        meter.CreateObservableGauge("oversight.outbox.oldest_waiting_age",
            () => _outboxes.Values.Where(o => o.Figures is not null).Select(o => new Measurement<double>(o.OldestAge(), o.Tag)),
            unit: "s",
            description: "Age of the oldest event waiting in the outbox (0 when none waits), by outbox.");
        _published = meter.CreateCounter<long>("oversight.outbox.published", description: "Events published from the outbox, by outbox.");
        _failures = meter.CreateCounter<long>("oversight.outbox.publish_failures",
            description: "Failed attempts to publish from the outbox, by outbox and reason (not_routed: no queue receives the event yet; error).");
    }

    /// <summary>The instruments of one outbox, tagged with its name; ages are counted on <paramref name="clock"/>.</summary>
    public Outbox For(string name, TimeProvider clock) => _outboxes.GetOrAdd(name, n => new Outbox(this, n, clock));

    public sealed class Outbox
    {
        private readonly OutboxMetrics _metrics;
        private readonly TimeProvider _clock;
        private readonly KeyValuePair<string, object?>[] _notRouted;
        private readonly KeyValuePair<string, object?>[] _error;
        private volatile WaitingFigures? _figures;

        internal Outbox(OutboxMetrics metrics, string name, TimeProvider clock)
        {
            _metrics = metrics;
            _clock = clock;
            Tag = new("outbox", name);
            _notRouted = [Tag, new("reason", NotRouted)];
            _error = [Tag, new("reason", Error)];
        }

        internal KeyValuePair<string, object?> Tag { get; }

        /// <summary>Null until the publisher has read its table once: no series rather than a false 0.</summary>
        internal WaitingFigures? Figures => _figures;

        /// <summary>Records what the table holds now: <paramref name="count"/> events waiting, the oldest created at <paramref name="oldest"/>.</summary>
        public void Waiting(long count, DateTimeOffset? oldest) => _figures = new WaitingFigures(count, count == 0 ? null : oldest);

        public void Published() => _metrics._published.Add(1, Tag);

        public void Failed(string reason) => _metrics._failures.Add(1, reason == NotRouted ? _notRouted : _error);

        internal double OldestAge() =>
            _figures?.Oldest is { } oldest ? Math.Max(0, (_clock.GetUtcNow() - oldest).TotalSeconds) : 0;
    }

    internal sealed record WaitingFigures(long Count, DateTimeOffset? Oldest);
}
