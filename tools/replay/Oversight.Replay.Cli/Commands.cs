using System.Globalization;
using Oversight.Policy.Documents;
using Oversight.Replay.Reports;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Oversight.Replay.Cli;

/// <summary>Replays a trace in this process and writes the report folder.</summary>
public sealed class RunCommand : AsyncCommand<RunSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, RunSettings settings, CancellationToken cancellationToken)
    {
        var trace = await Console2.StepAsync("Reading the trace", () => settings.Load(), cancellationToken);
        Console2.TraceLoaded(trace);
        var options = settings.Options();
        // Every file (the verdict log too, written as the replay goes) is moved into place only at the end.
        using var output = new OutputFolder(settings.OutFolder());
        var log = settings.VerdictLog ? new VerdictLog(output.CreateText("verdicts.csv"), options.Policy.Resolve(options.Marketplace)) : null;
        if (log is null)
        {
            output.Drop("verdicts.csv"); // an earlier run's, with --verdict-log: not this run's verdicts
        }

        var result = await Console2.WithProgressAsync(!settings.NoProgress, "Replaying", trace.Jobs.Count,
            progress => ReplayRun.InProcessAsync(trace, options, cancellationToken, progress, log is null ? null : log.Write));
        ReplayReports.WriteRun(output, result, trace, "in-process", cancellationToken);
        Console2.Done(output.Complete(cancellationToken));
        Console2.Headline(new ReportFacts(result));
        return 0;
    }
}

/// <summary>Replays a trace under a grid of scaled policies or a list of policy files.</summary>
public sealed class SweepCommand : AsyncCommand<SweepSettings>
{
    private static readonly decimal[] DefaultScales = [0.001m, 0.003m, 0.01m, 0.03m, 0.1m, 0.3m, 1m, 3m, 10m];

    public override async Task<int> ExecuteAsync(CommandContext context, SweepSettings settings, CancellationToken cancellationToken)
    {
        var trace = await Console2.StepAsync("Reading the trace", () => settings.Load(), cancellationToken);
        Console2.TraceLoaded(trace);
        var options = settings.Options();
        var policies = settings.Policies is { } list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(path => new SweepPolicy(Path.GetFileNameWithoutExtension(path), ReplaySettings.ReadPolicyFile(path), Path.GetFileName(path))).ToArray()
            : PolicySweep.ScaleGrid(options.Policy, options.PolicySource,
                settings.Scales is { } scales ? scales.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(s => decimal.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture)) : DefaultScales);
        var points = await Console2.WithProgressAsync(!settings.NoProgress, "Sweeping", policies.Count,
            progress => PolicySweep.RunAsync(trace, options, policies, settings.Parallelism, done => progress(done), cancellationToken));
        Console2.Done(ReplayReports.WriteSweep(settings.OutFolder("-sweep"), points, trace, options, cancellationToken));
        AnsiConsole.Write(TradeOffTable(points));
        return 0;
    }

    /// <summary>
    /// The sweep's trade-off on the console: a column per step-up a point's ladder has (as
    /// sweep.csv gives them), each cell the share of users asked and the share of compute covered,
    /// so that three step-ups fit in 80 columns.
    /// </summary>
    public static Table TradeOffTable(IReadOnlyList<SweepPoint> points)
    {
        var stepUps = ReportFacts.StepUps.Where(k => points.Any(p => p.AskedShare.ContainsKey(k))).ToArray();
        var table = new Table().AddColumn("point")
            .Caption("asked: share of users asked for the step-up; covered: share of compute run by users at or above its tier");
        foreach (var kind in stepUps)
        {
            table.AddColumn(new TableColumn($"{Charts.Label(kind)}\nasked / covered").RightAligned());
        }

        foreach (var p in points)
        {
            table.AddRow([Markup.Escape(p.Label), .. stepUps.Select(k => $"{Share(p.AskedShare, k),6} / {Share(p.CoveredShare, k),6}")]);
        }

        return table;
    }

    private static string Share(IReadOnlyDictionary<Policy.RequirementKind, double> shares, Policy.RequirementKind kind) =>
        shares.TryGetValue(kind, out var s) ? ReportFacts.Percent(s) : "-";
}

/// <summary>Runs the abandonment and sybil what-ifs.</summary>
public sealed class WhatIfCommand : AsyncCommand<WhatIfSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, WhatIfSettings settings, CancellationToken cancellationToken)
    {
        var trace = await Console2.StepAsync("Reading the trace", () => settings.Load(), cancellationToken);
        Console2.TraceLoaded(trace);
        var options = settings.Options();
        var parallel = settings.Parallelism;
        var probabilities = SweepSettings.ParseList(settings.Abandon, _ => true)!.Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var splits = SweepSettings.ParseList(settings.Sybil, _ => true)!.Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var abandonment = await Console2.Status("Replaying the abandonment what-if", () => WhatIfs.AbandonmentAsync(trace, options, probabilities, parallel, cancellationToken));
        var sybil = await Console2.Status("Replaying the sybil what-if", () => WhatIfs.SybilAsync(trace, options, splits, parallel, cancellationToken));
        Console2.Done(ReplayReports.WriteWhatIf(settings.OutFolder("-what-if"), abandonment, sybil, trace, options, cancellationToken));
        var baseline = WhatIfRow.BaselineAnonymousFlop(sybil);
        var table = new Table().AddColumns("scenario", "setting", "users left", "compute lost", "anonymous (10^12 FLOP)", "beyond baseline");
        foreach (var row in abandonment.Concat(sybil))
        {
            var beyond = row.Scenario.StartsWith("sybil", StringComparison.Ordinal) && baseline is { } b
                ? b == 0 ? row.BeyondBaseline(b).ToString("N0", CultureInfo.InvariantCulture) : "+" + ReportFacts.Percent(row.Facts.Share(row.BeyondBaseline(b), b))
                : "-";
            table.AddRow(row.Scenario, row.Setting, row.Facts.UsersAbandoned.ToString("N0", CultureInfo.InvariantCulture),
                ReportFacts.Percent(row.ShareLost), row.AnonymousFlop.ToString("N0", CultureInfo.InvariantCulture), beyond);
        }

        AnsiConsole.Write(table);
        return 0;
    }
}

/// <summary>Lists the trace formats.</summary>
public sealed class FormatsCommand : Command
{
    public override int Execute(CommandContext context, CancellationToken cancellationToken)
    {
        var table = new Table().AddColumns("--format", "what it reads");
        foreach (var format in TraceFormats.All)
        {
            table.AddRow(format.Name, Markup.Escape(format.Description));
        }

        AnsiConsole.Write(table);
        return 0;
    }
}

/// <summary>verdicts.csv, written as the replay goes (it grows with the trace, so it is not kept in memory).</summary>
internal sealed class VerdictLog
{
    private readonly TextWriter _writer;
    private readonly EffectivePolicy _policy;

    public VerdictLog(TextWriter writer, EffectivePolicy policy)
    {
        _writer = writer;
        _policy = policy;
        _writer.Write("time,account,lease,verdict,tier,required_tier,flop_units\n");
    }

    public void Write(VerdictEvent v) =>
        _writer.Write(string.Create(CultureInfo.InvariantCulture,
            $"{TraceTime.Format(v.Time)},{AccountsCsv.Field(v.Pseudonym)},{v.LeaseId},{ReportFacts.Snake(v.Verdict)},{_policy.Ladder[v.TierLevel].Id},{(v.RequiredTierLevel is { } r ? _policy.Ladder[r].Id : "")},{v.FlopUnits}\n"));
}
