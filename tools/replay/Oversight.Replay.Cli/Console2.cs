using System.Globalization;
using Oversight.Replay.Reports;
using Oversight.Replay.Traces;
using Spectre.Console;

namespace Oversight.Replay.Cli;

/// <summary>What the tool prints: progress on stderr (only on a terminal), results on stdout.</summary>
internal static class Console2
{
    /// <summary>The width assumed for output that is not a terminal (a file, a pipe, a CI log): it has none, and Spectre would take 80.</summary>
    public const int RedirectedWidth = 120;

    private static readonly IAnsiConsole Err = WideWhenRedirected(AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }), Console.IsErrorRedirected);

    /// <summary>
    /// Gives a console whose output is redirected at least <see cref="RedirectedWidth"/> columns:
    /// at 80, help squeezes option descriptions into a column a few words wide and long messages wrap.
    /// A terminal keeps its own width.
    /// </summary>
    public static IAnsiConsole WideWhenRedirected(IAnsiConsole console, bool redirected)
    {
        if (redirected)
        {
            console.Profile.Width = Math.Max(RedirectedWidth, console.Profile.Width);
        }

        return console;
    }

    /// <summary>
    /// Runs a step that takes no token (reading a trace) on a pool thread, and stops waiting for it
    /// when cancelled: Ctrl-C while a large trace is read takes effect at once (the read is only
    /// abandoned, and ends with the process).
    /// </summary>
    public static Task<T> StepAsync<T>(string what, Func<T> work, CancellationToken cancellationToken)
    {
        Err.MarkupLine($"[grey]{Markup.Escape(what)}…[/]");
        return Task.Run(work, cancellationToken).WaitAsync(cancellationToken);
    }

    public static void TraceLoaded(TraceLoad trace)
    {
        Err.MarkupLine($"[grey]{trace.Format}: {Wording.Count(trace.RowsRead, "row")}, {Wording.Count(trace.Jobs.Count, "job")}"
            + (trace.RowsFiltered.Count > 0 ? $", {trace.RowsFiltered.Values.Sum().ToString("N0", CultureInfo.InvariantCulture)} not GPU usage" : "")
            + (trace.RowsSkipped.Count > 0 ? $", [yellow]{Wording.Count(trace.RowsSkipped.Values.Sum(), "malformed row")} skipped[/]" : "") + "[/]");
        foreach (var (reason, count) in trace.RowsSkipped)
        {
            Err.MarkupLine($"[yellow]  skipped {count.ToString("N0", CultureInfo.InvariantCulture)}: {Markup.Escape(reason)}[/]");
        }

        foreach (var assumption in trace.Assumptions)
        {
            Err.MarkupLine($"[grey]  assumed: {Markup.Escape(assumption)}[/]");
        }
    }

    /// <summary>Runs work with a progress bar over <paramref name="total"/> steps when stderr is a terminal.</summary>
    public static async Task<T> WithProgressAsync<T>(bool enabled, string what, long total, Func<Action<long>, Task<T>> work)
    {
        if (!enabled || Console.IsErrorRedirected || total == 0)
        {
            return await work(_ => { });
        }

        T result = default!;
        await Err.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(what, maxValue: total);
                result = await work(done => task.Value = done);
                task.Value = total;
            });
        return result;
    }

    public static Task<T> Status<T>(string what, Func<Task<T>> work)
    {
        Err.MarkupLine($"[grey]{Markup.Escape(what)}…[/]");
        return work();
    }

    public static void Done(IEnumerable<string> files)
    {
        foreach (var file in files)
        {
            Console.WriteLine($"wrote {file}");
        }
    }

    public static void Headline(ReportFacts facts)
    {
        foreach (var kind in ReportFacts.StepUps.Where(k => facts.LevelOf(k) is not null))
        {
            Console.WriteLine($"{facts.Asked[kind].ToString("N0", CultureInfo.InvariantCulture)} of {Wording.Count(facts.Users, "trace account")} ({ReportFacts.Percent(facts.Share(facts.Asked[kind], facts.Users))}) asked to {Charts.Label(kind)}");
        }

        Console.WriteLine($"{ReportFacts.Percent(facts.Share(facts.FlopRunByTier[0], facts.FlopRun))} of compute run anonymously; {Wording.Count(facts.UsersDenied, "trace account")} denied at least once");
    }
}
