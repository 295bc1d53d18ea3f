using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Oversight.Policy;
using Oversight.Replay.Live;
using Oversight.Replay.Reports;
using Oversight.Replay.Simulation;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Oversight.Replay.Cli;

/// <summary>
/// The simulation plays the deployment's own policy on its own clock with unlinked users: it has
/// no --policy, --utilisation, --set-policy, --compare, --admin-token or --sybil-* (--users-per-account
/// makes its pseudonyms).
/// </summary>
public sealed class SimulateSettings : DeploymentSettings
{
    /// <summary>
    /// The demo's defaults: the first 3,000 jobs, on H100s when the trace names no accelerator, so
    /// that within a minute or two the heaviest users reach the default policy's anonymous budget.
    /// </summary>
    public const int DefaultJobs = 3000;

    public const string DefaultAccelerator = "H100-SXM";

    [CommandOption("--abandon-purpose <P>")]
    [Description(OptionHelp.AbandonPurpose + " Default 0.1.")]
    public override double? AbandonPurpose { get; init; }

    [CommandOption("--abandon-identity <P>")]
    [Description(OptionHelp.AbandonIdentity + " Default 0.2.")]
    public override double? AbandonIdentity { get; init; }

    [CommandOption("--abandon-organisation <P>")]
    [Description(OptionHelp.AbandonOrganisation + " Default 0.3.")]
    public override double? AbandonOrganisation { get; init; }

    [CommandOption("--users-per-account <N>")]
    [Description("Pseudonymous users per trace account: each account's jobs are dealt round-robin to N users (the Philly trace has 11 accounts).")]
    [DefaultValue(2)]
    public int UsersPerAccount { get; init; } = 2;

    protected override string DefaultMarketplace => $"sim-{StartedAt:yyyyMMdd-HHmmss}";

    // Some users leave at each step-up, more at the harder ones.
    protected override (double Purpose, double Identity, double Organisation) DefaultAbandonment => (0.1, 0.2, 0.3);

    public override ValidationResult Validate()
    {
        var result = base.Validate();
        if (!result.Successful)
        {
            return result;
        }

        return UsersPerAccount < 1 ? ValidationResult.Error("--users-per-account must be at least 1") : ValidationResult.Success();
    }
}

/// <summary>
/// The marketplace simulation: many pseudonymous users with work drawn from a shared trace ask for
/// leases, a provider host attests their usage, users step up when asked (some abandon), against a
/// running deployment on its own clock; the counts update live in the terminal.
/// </summary>
public sealed class SimulateCommand : AsyncCommand<SimulateSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, SimulateSettings settings, CancellationToken cancellationToken)
    {
        var trace = (await Console2.StepAsync("Reading the trace", () => settings.Load(SimulateSettings.DefaultAccelerator), cancellationToken)).Take(settings.Limit ?? SimulateSettings.DefaultJobs);
        Console2.TraceLoaded(trace);
        var target = settings.Target();
        // The deployment decides with its own policy: the simulation reports against that one.
        var policy = await LiveBackend.ReadPolicyAsync(target, settings.Marketplace, cancellationToken);
        var options = settings.Options() with
        {
            Policy = policy,
            PolicySource = "the deployment's",
            SybilSplit = settings.UsersPerAccount,
        };
        var backend = await LiveBackend.ConnectAsync(target, options, trace.Jobs.Count == 0 ? 0 : trace.Jobs[0].Start, setPolicy: false, mode: LiveClock.Real, cancellationToken: cancellationToken);
        var counts = new LiveCounts(options.Policy.Resolve(options.Marketplace));
        var clock = Stopwatch.StartNew();
        ReplayResult? result = null;
        if (Console.IsOutputRedirected || settings.NoProgress)
        {
            result = await ReplayRun.RunAsync(trace, options, backend, cancellationToken, onVerdict: counts.Add);
        }
        else
        {
            await AnsiConsole.Live(counts.Render(trace.Jobs.Count, 0, clock.Elapsed)).AutoClear(false).StartAsync(async live =>
            {
                long done = 0;
                var last = TimeSpan.Zero;
                result = await ReplayRun.RunAsync(trace, options, backend, cancellationToken, progress: n => done = n, onVerdict: v =>
                {
                    counts.Add(v);
                    if (clock.Elapsed - last > TimeSpan.FromMilliseconds(200))
                    {
                        last = clock.Elapsed;
                        live.UpdateTarget(counts.Render(trace.Jobs.Count, done, clock.Elapsed));
                    }
                });
                live.UpdateTarget(counts.Render(trace.Jobs.Count, trace.Jobs.Count, clock.Elapsed));
            });
        }

        await backend.ConfirmAllCountedAsync(result!.LastEnd, cancellationToken);
        var facts = new ReportFacts(result);
        Console.WriteLine($"marketplace {options.Marketplace}: {Wording.Count(result.Pseudonyms, "user")} from {Wording.Count(result.Users.Count, "trace account")}, "
            + $"{Wording.Count(result.Jobs, "lease")} in {clock.Elapsed.TotalSeconds:0.0} s; every attested unit counted once by enforcement");
        Console2.Headline(facts);
        Console2.Done(ReplayReports.WriteRun(settings.OutFolder("-simulation"), result, trace, "simulation (live, the deployment's clock)", cancellationToken));
        return 0;
    }

    /// <summary>The running totals shown while the simulation runs.</summary>
    private sealed class LiveCounts(Policy.Documents.EffectivePolicy policy)
    {
        private readonly long[] _verdicts = new long[Enum.GetValues<Verdict>().Length];
        private readonly HashSet<string> _users = [];
        private readonly long[] _flopByTier = new long[policy.Ladder.Count];

        public void Add(VerdictEvent verdict)
        {
            _verdicts[(int)verdict.Verdict]++;
            _users.Add(verdict.Pseudonym);
            if (verdict.Verdict is Verdict.Allow or Verdict.AllowNearLimit)
            {
                _flopByTier[verdict.TierLevel] += verdict.FlopUnits;
            }
        }

        public Table Render(long jobs, long done, TimeSpan elapsed)
        {
            var table = new Table().Title($"Oversight marketplace simulation: {done.ToString("N0", CultureInfo.InvariantCulture)} of {Wording.Count(jobs, "lease")}, {elapsed.TotalSeconds:0} s")
                .AddColumns("", "count");
            table.AddRow("users seen", $"{_users.Count:N0}");
            foreach (var verdict in ReportFacts.Verdicts)
            {
                table.AddRow(ReportFacts.Snake(verdict), $"{_verdicts[(int)verdict]:N0}");
            }

            for (var level = 0; level < policy.Ladder.Count; level++)
            {
                table.AddRow($"compute admitted at {Markup.Escape(policy.Ladder[level].DisplayName)} (10^12 FLOP)", $"{_flopByTier[level]:N0}");
            }

            return table;
        }
    }
}
