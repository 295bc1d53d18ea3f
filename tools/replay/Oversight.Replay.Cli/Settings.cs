using System.ComponentModel;
using System.Globalization;
using Oversight.Policy.Accelerators;
using Oversight.Policy.Documents;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Oversight.Replay.Cli;

/// <summary>Which trace to read and how to fill the fields it lacks.</summary>
public class TraceSettings : CommandSettings
{
    [CommandOption("-t|--trace <PATH>")]
    [Description("Trace file to replay (required). Example: ../shared/traces/philly-chronus/trace_job_Philly_MIX1.csv")]
    public string Trace { get; init; } = "";

    [CommandOption("-f|--format <FORMAT>")]
    [Description("Trace format: auto (default; by extension and CSV header), csv, jsonl, parquet, alibaba-lora, philly-chronus, helios, pai-2020, philly-json. `formats` lists them.")]
    [DefaultValue("auto")]
    public string Format { get; init; } = "auto";

    [CommandOption("--task-table <PATH>")]
    [Description("pai-2020 only: the pai_task_table file that gives each job's GPUs and GPU type.")]
    public string? TaskTable { get; init; }

    [CommandOption("--accelerator <MODEL>")]
    [Description("Accelerator model for traces that name none (catalogue names such as H100-SXM, A100, P100-SXM2). Default per format, stated in the report.")]
    public string? Accelerator { get; init; }

    [CommandOption("--accelerator-count <N>")]
    [Description("Accelerators per job for traces without a count (alibaba-lora: default 1).")]
    public int? AcceleratorCount { get; init; }

    [CommandOption("--trace-start <TIME>")]
    [Description("When relative trace times start (philly-chronus), as Unix seconds or 2017-10-03T00:00:00Z (the default).")]
    public string? TraceStart { get; init; }

    [CommandOption("--skip-bad-rows")]
    [Description("Skip malformed rows (counted by reason in the report) instead of stopping at the first one.")]
    public bool SkipBadRows { get; init; }

    public override ValidationResult Validate()
    {
        if (string.IsNullOrWhiteSpace(Trace))
        {
            return ValidationResult.Error("--trace is required: the trace file to replay");
        }

        if (TraceStart is not null && !TraceTime.TryParse(TraceStart, out _))
        {
            return ValidationResult.Error($"--trace-start '{TraceStart}' is neither Unix seconds nor a date and time");
        }

        if (Accelerator is not null && !AcceleratorCatalogue.Default.TryGet(Accelerator, out _))
        {
            // Said here, not as a fault of the trace's first row.
            return ValidationResult.Error($"--accelerator '{Accelerator}' is not in the catalogue (known: {string.Join(", ", AcceleratorCatalogue.Default.Accelerators.Select(a => a.Model))})");
        }

        return AcceleratorCount is <= 0 ? ValidationResult.Error("--accelerator-count must be at least 1") : ValidationResult.Success();
    }

    /// <param name="defaultAccelerator">The accelerator for traces that name none, when --accelerator is not given (else the format's own default).</param>
    /// <exception cref="EmptyTraceException">No row of the trace is a job: every command stops here, before it writes or connects.</exception>
    public TraceLoad Load(string? defaultAccelerator = null)
    {
        var options = new TraceReadOptions
        {
            Accelerator = Accelerator ?? defaultAccelerator,
            AcceleratorCount = AcceleratorCount,
            TraceStart = TraceStart is null ? null : TraceTime.TryParse(TraceStart, out var start) ? start : null,
            SkipBadRows = SkipBadRows,
            CompanionFile = TaskTable,
        };
        var trace = TraceFormats.Load(Trace, Format, options);
        trace.EnsureJobs();
        return trace;
    }
}

/// <summary>
/// The options of every command that replays (the marketplace, the output folder, how the
/// simulated users behave), and the replay's options from them.
/// </summary>
/// <remarks>
/// A command offers only the options it uses. The policy, the abandonment probabilities and the
/// sybil split are not every command's, or not with the same meaning: they are declared here
/// without being options, and each command's settings that take them declare the option by
/// overriding them, with help that says what it does there. A command without the option replays
/// with the value given here.
/// </remarks>
public abstract class ReplaySettings : TraceSettings
{
    /// <summary>Policy file (--policy); null: the built-in default.</summary>
    public virtual string? Policy { get; init; }

    /// <summary>--utilisation; null: the policy's.</summary>
    public virtual decimal? Utilisation { get; init; }

    /// <summary>--abandon-purpose; null: <see cref="DefaultAbandonment"/>.</summary>
    public virtual double? AbandonPurpose { get; init; }

    /// <summary>--abandon-identity; null: <see cref="DefaultAbandonment"/>.</summary>
    public virtual double? AbandonIdentity { get; init; }

    /// <summary>--abandon-organisation; null: <see cref="DefaultAbandonment"/>.</summary>
    public virtual double? AbandonOrganisation { get; init; }

    /// <summary>--sybil-split: pseudonyms per trace account.</summary>
    public virtual int SybilSplit { get; init; } = 1;

    /// <summary>--sybil-linked.</summary>
    public virtual bool SybilLinked { get; init; }

    [CommandOption("--marketplace <ID>")]
    [Description("Marketplace the replay plays: its policy overrides apply, and live runs create their accounts and provider there. Default: replay (run, sweep, what-if); a new replay-<time> for each live run, sim-<time> for each simulation.")]
    public string? MarketplaceId { get; init; }

    [CommandOption("-o|--out <FOLDER>")]
    [Description("Output folder (created; files in it are replaced). Default: replay-out/<trace file name>, with -sweep, -what-if, -live or -simulation after it for those commands.")]
    public string? Out { get; init; }

    /// <summary>The marketplace this command plays when none is named.</summary>
    protected virtual string DefaultMarketplace => "replay";

    public string Marketplace => MarketplaceId ?? DefaultMarketplace;

    [CommandOption("--seed <N>")]
    [Description("Seed of the only random choice (abandoning at a step-up). Same trace, policy and seed: byte-identical outputs.")]
    [DefaultValue(1)]
    public int Seed { get; init; } = 1;

    [CommandOption("--delay-purpose <SECONDS>")]
    [Description("How long a user takes to state a purpose after being asked.")]
    [DefaultValue(300L)]
    public long DelayPurpose { get; init; } = 300;

    [CommandOption("--delay-identity <SECONDS>")]
    [Description("How long an identity verification takes.")]
    [DefaultValue(3600L)]
    public long DelayIdentity { get; init; } = 3600;

    [CommandOption("--delay-organisation <SECONDS>")]
    [Description("How long an organisation verification takes.")]
    [DefaultValue(259200L)]
    public long DelayOrganisation { get; init; } = 259200;

    /// <summary>The abandonment probabilities used when none is given: none leaves in a replay (it measures the policy alone).</summary>
    protected virtual (double Purpose, double Identity, double Organisation) DefaultAbandonment => (0, 0, 0);

    [CommandOption("--attest-interval <SECONDS>")]
    [Description("Providers attest running jobs at least this often (then finally at the job's end).")]
    [DefaultValue(3600L)]
    public long AttestInterval { get; init; } = 3600;

    [CommandOption("--no-progress")]
    [Description("No progress bar (it is also off when stderr is not a terminal).")]
    public bool NoProgress { get; init; }

    public override ValidationResult Validate()
    {
        var trace = base.Validate();
        if (!trace.Successful)
        {
            return trace;
        }

        foreach (var (name, p) in new[] { ("--abandon-purpose", AbandonPurpose ?? 0), ("--abandon-identity", AbandonIdentity ?? 0), ("--abandon-organisation", AbandonOrganisation ?? 0) })
        {
            if (p is < 0 or > 1 || double.IsNaN(p))
            {
                return ValidationResult.Error($"{name} is a probability between 0 and 1, not {p.ToString(CultureInfo.InvariantCulture)}");
            }
        }

        if (Utilisation is { } u && (u <= 0 || u > 1))
        {
            return ValidationResult.Error($"--utilisation must be above 0 and at most 1, not {u.ToString(CultureInfo.InvariantCulture)}");
        }

        if (DelayPurpose < 0 || DelayIdentity < 0 || DelayOrganisation < 0)
        {
            return ValidationResult.Error("step-up delays are 0 or more seconds");
        }

        if (AttestInterval <= 0)
        {
            return ValidationResult.Error("--attest-interval must be at least 1 second");
        }

        if (SybilSplit < 1)
        {
            return ValidationResult.Error("--sybil-split must be at least 1");
        }

        // Read now, before the trace: a bad policy file is found in a moment, not after a large trace.
        return PolicyError(() => LoadPolicy());
    }

    /// <summary>Success, or the one line a bad policy file gets (see <see cref="ReadPolicyFile"/>).</summary>
    protected static ValidationResult PolicyError(Action read)
    {
        try
        {
            read();
            return ValidationResult.Success();
        }
        catch (PolicyValidationException e)
        {
            return ValidationResult.Error($"policy: {e.Message}");
        }
        catch (IOException e)
        {
            return ValidationResult.Error(e.Message);
        }
    }

    /// <summary>The policy to replay, with --utilisation applied (it is the policy's field, so enforcement and replay estimate alike).</summary>
    public (PolicyDocument Policy, string Source) LoadPolicy()
    {
        var (policy, source) = Policy is null ? (DefaultPolicy.Document, "default") : (ReadPolicyFile(Policy), Path.GetFileName(Policy));
        return Utilisation is { } u
            ? (policy with { Utilisation = u }, $"{source}, utilisation {u.ToString(CultureInfo.InvariantCulture)} (--utilisation)")
            : (policy, source);
    }

    /// <summary>A policy file, read and checked, with errors that name it.</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="PolicyValidationException">The file is not a valid policy; the message starts with its path.</exception>
    public static PolicyDocument ReadPolicyFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"no policy file at {path}", path);
        }

        try
        {
            return PolicyLoader.Load(File.ReadAllText(path));
        }
        catch (PolicyValidationException e)
        {
            throw new PolicyValidationException(e.Field, $"{path}: {e.Message}");
        }
    }

    public ReplayOptions Options()
    {
        var (policy, source) = LoadPolicy();
        return new ReplayOptions
        {
            Policy = policy,
            PolicySource = source,
            Marketplace = Marketplace,
            Seed = Seed,
            AttestIntervalSeconds = AttestInterval,
            SybilSplit = SybilSplit,
            SybilLinked = SybilLinked,
            Behaviour = new UserBehaviour
            {
                PurposeDelaySeconds = DelayPurpose,
                IdentityDelaySeconds = DelayIdentity,
                OrganisationDelaySeconds = DelayOrganisation,
                AbandonAtPurpose = AbandonPurpose ?? DefaultAbandonment.Purpose,
                AbandonAtIdentity = AbandonIdentity ?? DefaultAbandonment.Identity,
                AbandonAtOrganisation = AbandonOrganisation ?? DefaultAbandonment.Organisation,
            },
        };
    }

    public string OutFolder(string suffix = "") =>
        Out ?? Path.Combine("replay-out", Path.GetFileNameWithoutExtension(Trace) + suffix);
}

/// <summary>The help of options that mean the same in several commands.</summary>
internal static class OptionHelp
{
    public const string Policy = "Policy document (YAML or JSON) to replay; default: the built-in default ladder (services/shared/Oversight.Policy/Documents/default-policy.yaml).";

    public const string Utilisation = "Utilisation assumed when a job's FLOP is estimated from its hardware time (0 < U <= 1), instead of the policy's (0.4 in the default policy, Epoch AI). Jobs whose trace gives FLOP are not affected.";

    public const string AbandonPurpose = "Probability that a user asked to state a purpose leaves instead (0 to 1).";

    public const string AbandonIdentity = "Probability that a user asked to verify its identity leaves instead.";

    public const string AbandonOrganisation = "Probability that a user asked to verify an organisation leaves instead.";

    public const string SybilSplit = "Spread each user's jobs round-robin over K pseudonyms.";

    public const string Parallel = "Replays run at once (default: the number of processors).";

    public static int Parallelism(int? parallel) => parallel is > 0 ? parallel.Value : Environment.ProcessorCount;
}

/// <summary>The policy and the users of an in-process replay (run, sweep).</summary>
public abstract class InProcessSettings : ReplaySettings
{
    [CommandOption("-p|--policy <PATH>")]
    [Description(OptionHelp.Policy)]
    public override string? Policy { get; init; }

    [CommandOption("--utilisation <U>")]
    [Description(OptionHelp.Utilisation)]
    public override decimal? Utilisation { get; init; }

    [CommandOption("--abandon-purpose <P>")]
    [Description(OptionHelp.AbandonPurpose + " Default 0.")]
    public override double? AbandonPurpose { get; init; }

    [CommandOption("--abandon-identity <P>")]
    [Description(OptionHelp.AbandonIdentity + " Default 0.")]
    public override double? AbandonIdentity { get; init; }

    [CommandOption("--abandon-organisation <P>")]
    [Description(OptionHelp.AbandonOrganisation + " Default 0.")]
    public override double? AbandonOrganisation { get; init; }

    [CommandOption("--sybil-split <K>")]
    [Description(OptionHelp.SybilSplit)]
    [DefaultValue(1)]
    public override int SybilSplit { get; init; } = 1;

    [CommandOption("--sybil-linked")]
    [Description("With --sybil-split: KYC links each user's pseudonyms, so they share the budgets of the shared tiers.")]
    public override bool SybilLinked { get; init; }
}

public sealed class RunSettings : InProcessSettings
{
    [CommandOption("--verdict-log")]
    [Description("Also write verdicts.csv: every verdict in order (time, account, lease, verdict, tier, required tier, FLOP units).")]
    public bool VerdictLog { get; init; }
}

public sealed class SweepSettings : InProcessSettings
{
    [CommandOption("--parallel <N>")]
    [Description(OptionHelp.Parallel)]
    public int? Parallel { get; init; }

    public int Parallelism => OptionHelp.Parallelism(Parallel);

    [CommandOption("--scales <LIST>")]
    [Description("Comma-separated factors applied to every limit of the policy's ladder, one replay each. Default: 0.001,0.003,0.01,0.03,0.1,0.3,1,3,10")]
    public string? Scales { get; init; }

    [CommandOption("--policies <LIST>")]
    [Description("Comma-separated policy files, one replay each (instead of --scales).")]
    public string? Policies { get; init; }

    public override ValidationResult Validate()
    {
        var baseResult = base.Validate();
        if (!baseResult.Successful)
        {
            return baseResult;
        }

        if (Scales is not null && Policies is not null)
        {
            return ValidationResult.Error("give --scales or --policies, not both");
        }

        if (Scales is not null && ParseList(Scales, s => decimal.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d > 0) is null)
        {
            return ValidationResult.Error($"--scales '{Scales}': expected positive numbers separated by commas, e.g. 0.1,1,10");
        }

        return Policies is null
            ? ValidationResult.Success()
            : PolicyError(() => Array.ForEach(Policies.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), path => ReadPolicyFile(path)));
    }

    public static string[]? ParseList(string text, Func<string, bool> valid)
    {
        var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return items.Length > 0 && items.All(valid) ? items : null;
    }
}

/// <summary>
/// The what-ifs: run's options apply to every scenario as they do to run, except what a scenario
/// varies (docs/replay.md), and their help says so.
/// </summary>
public sealed class WhatIfSettings : ReplaySettings
{
    [CommandOption("-p|--policy <PATH>")]
    [Description(OptionHelp.Policy)]
    public override string? Policy { get; init; }

    [CommandOption("--utilisation <U>")]
    [Description(OptionHelp.Utilisation)]
    public override decimal? Utilisation { get; init; }

    [CommandOption("--abandon-purpose <P>")]
    [Description(OptionHelp.AbandonPurpose + " Default 0. " + SybilScenariosOnly)]
    public override double? AbandonPurpose { get; init; }

    [CommandOption("--abandon-identity <P>")]
    [Description(OptionHelp.AbandonIdentity + " Default 0. " + SybilScenariosOnly)]
    public override double? AbandonIdentity { get; init; }

    [CommandOption("--abandon-organisation <P>")]
    [Description(OptionHelp.AbandonOrganisation + " Default 0. " + SybilScenariosOnly)]
    public override double? AbandonOrganisation { get; init; }

    [CommandOption("--sybil-split <K>")]
    [Description(OptionHelp.SybilSplit + " " + AbandonmentScenariosOnly)]
    [DefaultValue(1)]
    public override int SybilSplit { get; init; } = 1;

    [CommandOption("--sybil-linked")]
    [Description("With --sybil-split: KYC links each user's pseudonyms, so they share the budgets of the shared tiers. Only in the abandonment scenarios: the sybil scenarios replay each split of --sybil without and with links.")]
    public override bool SybilLinked { get; init; }

    [CommandOption("--parallel <N>")]
    [Description(OptionHelp.Parallel)]
    public int? Parallel { get; init; }

    public int Parallelism => OptionHelp.Parallelism(Parallel);

    [CommandOption("--abandon <LIST>")]
    [Description("Abandonment probabilities to try at every step-up. Default: 0,0.1,0.3,0.5")]
    [DefaultValue("0,0.1,0.3,0.5")]
    public string Abandon { get; init; } = "0,0.1,0.3,0.5";

    [CommandOption("--sybil <LIST>")]
    [Description("Pseudonyms per user to try, each without and with KYC links. Default: 2,4,8")]
    [DefaultValue("2,4,8")]
    public string Sybil { get; init; } = "2,4,8";

    private const string SybilScenariosOnly = "Only in the sybil scenarios: the abandonment scenarios set every step-up's from --abandon.";

    private const string AbandonmentScenariosOnly = "Only in the abandonment scenarios: the sybil scenarios set it from --sybil.";

    public override ValidationResult Validate()
    {
        var baseResult = base.Validate();
        if (!baseResult.Successful)
        {
            return baseResult;
        }

        if (SweepSettings.ParseList(Abandon, s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var p) && p is >= 0 and <= 1) is null)
        {
            return ValidationResult.Error($"--abandon '{Abandon}': expected probabilities between 0 and 1 separated by commas");
        }

        return SweepSettings.ParseList(Sybil, s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var k) && k >= 1) is null
            ? ValidationResult.Error($"--sybil '{Sybil}': expected whole numbers of pseudonyms (at least 1) separated by commas")
            : ValidationResult.Success();
    }
}
