using System.ComponentModel;
using System.Globalization;
using System.Numerics;
using System.Reflection;
using Oversight.Policy.Documents;
using Oversight.Replay.Traces;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Oversight.Replay.Cli;

/// <summary>oversight-replay's commands, and how their failures and interruptions end the process.</summary>
public static class ReplayApp
{
    /// <summary>The exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report a process that SIGINT ended).</summary>
    public const int InterruptedExitCode = 130;

    public const string InterruptedMessage = "interrupted: the run stopped before writing its outputs; no file was written or changed";

    private const string Philly = "../shared/traces/philly-chronus/trace_job_Philly_MIX1.csv";
    private const string Lora = "../shared/traces/alibaba-genai-lora/lora_request_trace.csv";

    /// <summary>The application; one-line errors and the interruption go to <paramref name="errors"/> (stderr).</summary>
    /// <param name="interruption">Cancelled by Ctrl-C or SIGTERM (Program.cs); also given to RunAsync. Only its cancellation is an interruption.</param>
    public static ICommandApp Create(TextWriter errors, CancellationToken interruption)
    {
        var app = new App();
        app.Configure(config =>
        {
            config.SetApplicationName("oversight-replay");
            // An unknown or misspelled option is an error, not ignored: a run with a setting it
            // never got would finish and its figures would pass for that setting's.
            config.UseStrictParsing();
            config.AddCommand<RunCommand>(app.Named<RunCommand>("run"))
                .WithDescription("Replay a trace through the policy and write summary.json, accounts.csv and report.html.")
                .WithExample("run", "--trace", Philly, "--out", "replay-out/philly")
                .WithExample("run", "--trace", Lora, "--accelerator", "L40S", "--policy", "my-policy.yaml", "--abandon-purpose", "0.1");
            config.AddCommand<SweepCommand>(app.Named<SweepCommand>("sweep"))
                .WithDescription("Replay a trace under a grid of scaled thresholds (or several policy files) and plot the trade-off.")
                .WithExample("sweep", "--trace", Lora, "--scales", "0.001,0.01,0.1,1");
            config.AddCommand<WhatIfCommand>(app.Named<WhatIfCommand>("what-if"))
                .WithDescription("Abandonment at step-ups and sybil splitting (without and with KYC links).")
                .WithExample("what-if", "--trace", Philly, "--sybil", "2,4", "--abandon", "0,0.2,0.5");
            config.AddCommand<LiveCommand>(app.Named<LiveCommand>("live"))
                .WithDescription("Drive a running deployment (simulation clock on) over gRPC with the trace, and report the same way.")
                .WithExample("live", "--trace", Philly, "--limit", "300", "--set-policy", "--compare");
            config.AddCommand<SimulateCommand>(app.Named<SimulateCommand>("simulate"))
                .WithDescription("A marketplace simulation against a running deployment on its own clock: users from a trace ask for leases, a provider attests, users step up or leave; live counts.")
                .WithExample("simulate", "--trace", Philly)
                .WithExample("simulate", "--trace", Philly, "--address", "http://oversight.example:7400", "--operator-token", "op.jwt", "--provider-token", "prov.jwt");
            config.AddCommand<FormatsCommand>("formats").WithDescription("List the trace formats and how each becomes jobs.");
            config.SetExceptionHandler((exception, _) =>
            {
                // Ctrl-C or SIGTERM (Program.cs): every command writes its outputs last, so an
                // interrupted run has written none. A call cancelled for another reason (a time-out)
                // is an error like any other.
                if (interruption.IsCancellationRequested && exception is OperationCanceledException or Grpc.Core.RpcException { StatusCode: Grpc.Core.StatusCode.Cancelled })
                {
                    errors.WriteLine(InterruptedMessage);
                    return InterruptedExitCode;
                }

                // Bad input is the user's to fix: one precise line, no stack trace.
                var message = exception is CommandRuntimeException { InnerException: not null } ? app.OptionValueError() : null;
                message ??= exception switch
                {
                    TraceFormatException e => e.Message,
                    PolicyValidationException e => $"policy: {e.Message}",
                    FileNotFoundException e => e.Message,
                    DirectoryNotFoundException e => e.Message,
                    ArgumentException e => e.Message,
                    CommandParseException or CommandRuntimeException => exception.Message,
                    // A live run's refusals: the deployment's answer, or what the driver found wrong.
                    // grpc-dotnet reports a refused connection as UNAVAILABLE "Error connecting to subchannel".
                    Grpc.Core.RpcException { StatusCode: Grpc.Core.StatusCode.Unavailable } e when e.Status.DebugException is System.Net.Http.HttpRequestException or System.Net.Sockets.SocketException
                        || e.Status.Detail.StartsWith("Error connecting", StringComparison.Ordinal) =>
                        $"nothing answers at the deployment's address ({e.Status.DebugException?.Message ?? e.Status.Detail}): start the embedded default (see the README) or pass --address",
                    Grpc.Core.RpcException { StatusCode: Grpc.Core.StatusCode.Unauthenticated } e =>
                        $"the deployment answered Unauthenticated: {e.Status.Detail} (the tokens must be signed with the deployment's key: against the embedded default "
                        + "give --embedded-data with its data folder, the one its banner prints; against another deployment, --operator-token and --provider-token)",
                    Grpc.Core.RpcException e => $"the deployment answered {e.StatusCode}: {e.Status.Detail}",
                    InvalidOperationException or NotSupportedException or TimeoutException or OperationCanceledException => exception.Message,
                    // The output folder could not take a file (a folder in its place, no permission, a full disk).
                    IOException or UnauthorizedAccessException => exception.Message,
                    _ => null,
                };
                if (message is null)
                {
                    AnsiConsole.WriteException(exception);
                    return 1;
                }

                errors.WriteLine($"error: {message}");
                return 2;
            });
        });
        return app;
    }

    /// <summary>
    /// Spectre's application, keeping the arguments of the run for the one error Spectre reports
    /// without naming the option: a value that does not convert to the option's type ("Failed to
    /// convert 'abc' to Int32.").
    /// </summary>
    private sealed class App : ICommandApp
    {
        private readonly CommandApp _app = new();
        private readonly Dictionary<string, Type> _settings = new(StringComparer.Ordinal);
        private IReadOnlyList<string> _arguments = [];

        public void Configure(Action<IConfigurator> configuration) => _app.Configure(configuration);

        public int Run(IEnumerable<string> args, CancellationToken cancellationToken = default)
        {
            _arguments = args.ToArray();
            return _app.Run(_arguments, cancellationToken);
        }

        public Task<int> RunAsync(IEnumerable<string> args, CancellationToken cancellationToken = default)
        {
            _arguments = args.ToArray();
            return _app.RunAsync(_arguments, cancellationToken);
        }

        /// <summary>The command's name, its settings type noted for <see cref="OptionValueError"/>.</summary>
        public string Named<TCommand>(string name)
        {
            _settings[name] = typeof(TCommand).GetInterfaces().Single(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ICommand<>)).GetGenericArguments()[0];
            return name;
        }

        /// <summary>
        /// The first option of the command line whose value does not convert to its option's type
        /// (as Spectre converts it), named with what it takes: "--seed: 'abc' is not a whole number";
        /// null when there is none.
        /// </summary>
        public string? OptionValueError()
        {
            if (_arguments.Count == 0 || !_settings.TryGetValue(_arguments[0], out var settings))
            {
                return null;
            }

            var options = settings.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Select(p => (Property: p, Option: p.GetCustomAttribute<CommandOptionAttribute>()))
                .Where(o => o.Option is not null)
                .ToArray();
            for (var i = 1; i < _arguments.Count; i++)
            {
                var argument = _arguments[i];
                if (!argument.StartsWith('-'))
                {
                    continue;
                }

                // --name value, --name=value, --name:value; -n value.
                var name = argument.TrimStart('-');
                string? value = null;
                if (name.IndexOfAny(['=', ':']) is var separator and > 0)
                {
                    value = name[(separator + 1)..];
                    name = name[..separator];
                }

                var isLong = argument.StartsWith("--", StringComparison.Ordinal);
                var (property, option) = options.FirstOrDefault(o => (isLong ? o.Option!.LongNames : o.Option!.ShortNames).Contains(name, StringComparer.Ordinal));
                if (property is null || property.PropertyType == typeof(bool))
                {
                    continue;
                }

                if (value is null && i + 1 < _arguments.Count)
                {
                    value = _arguments[++i];
                }

                if (value is not null && Expected(property.PropertyType, value) is { } expected)
                {
                    return $"--{option!.LongNames[0]}: '{value}' {expected}";
                }
            }

            return null;
        }

        /// <summary>Null when <paramref name="value"/> converts to <paramref name="type"/>, else what is wrong with it.</summary>
        private static string? Expected(Type type, string value)
        {
            try
            {
                TypeDescriptor.GetConverter(type).ConvertFrom(null, CultureInfo.InvariantCulture, value);
                return null;
            }
            catch (Exception e) when (e is FormatException or ArgumentException or NotSupportedException or OverflowException)
            {
                var underlying = Nullable.GetUnderlyingType(type) ?? type;
                if (underlying == typeof(int) || underlying == typeof(long))
                {
                    var (min, max) = underlying == typeof(int) ? (int.MinValue, int.MaxValue) : (long.MinValue, long.MaxValue);
                    return BigInteger.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
                        ? string.Create(CultureInfo.InvariantCulture, $"is out of range: a whole number from {min} to {max}")
                        : "is not a whole number";
                }

                return underlying == typeof(double) || underlying == typeof(decimal) ? "is not a number" : $"is not a value of type {underlying.Name}";
            }
        }
    }
}
