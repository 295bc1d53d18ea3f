using System.Collections;
using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Oversight.Kyc.Tests;

/// <summary>
/// Records every log entry a host writes, as text: level, category, the formatted message, each
/// structured value, the values of every active scope and the exception with its stack. Used
/// by the privacy scans: nothing a log sink could receive escapes the search.
/// </summary>
public sealed class CapturingLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public ConcurrentQueue<string> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class CapturingLogger(CapturingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => provider._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var text = new StringBuilder().Append(logLevel).Append(' ').Append(category).Append(": ").Append(formatter(state, exception));
            AppendValues(text, " values:", state);
            provider._scopes.ForEachScope((scope, builder) => AppendValues(builder, " scope:", scope), text);
            if (exception is not null)
            {
                text.Append(" exception: ").Append(exception);
            }

            provider.Entries.Enqueue(text.ToString());
        }

        private static void AppendValues(StringBuilder text, string label, object? state)
        {
            text.Append(label);
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                foreach (var (key, value) in pairs)
                {
                    text.Append(' ').Append(key).Append('=').Append(Render(value));
                }
            }
            else
            {
                text.Append(' ').Append(Render(state));
            }
        }

        private static string Render(object? value) => value switch
        {
            null => "null",
            string s => s,
            byte[] bytes => Convert.ToHexString(bytes) + " " + Convert.ToBase64String(bytes),
            IEnumerable sequence => string.Join(",", sequence.Cast<object?>().Select(Render)),
            _ => value.ToString() ?? "",
        };
    }
}
