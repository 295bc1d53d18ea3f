using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Hosting.Outbox;

namespace Oversight.Testing;

/// <summary>
/// The outbox metrics of one host of the test process, as the exporters see them: only the
/// meters made by that host's IMeterFactory are read, so that hosts of tests running in
/// parallel do not mix. Counters add up from the moment the reader is made.
/// </summary>
public sealed class OutboxMetricsReader : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, double> _values = new();

    public OutboxMetricsReader(IServiceProvider services)
    {
        var meters = services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == OutboxMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, meters))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>
    /// The last value of a gauge, or the sum of a counter, for one series (<paramref name="tags"/>
    /// as "outbox=attestation" or "outbox=attestation,reason=error"); null when there is none.
    /// </summary>
    public double? Read(string instrument, string tags)
    {
        _listener.RecordObservableInstruments();
        return _values.TryGetValue(instrument + "{" + tags + "}", out var value) ? value : null;
    }

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var key = instrument.Name + "{" + string.Join(",", tags.ToArray().OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key}={t.Value}")) + "}";
        if (instrument.IsObservable)
        {
            _values[key] = value;
        }
        else
        {
            _values.AddOrUpdate(key, value, (_, sum) => sum + value);
        }
    }
}
