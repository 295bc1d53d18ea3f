using System.ComponentModel;
using System.Text.Json;
using Oversight.Hosting.Auth;
using Oversight.Replay.Live;
using Oversight.Replay.Reports;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Oversight.Replay.Cli;

/// <summary>The options of the commands that drive a running deployment (live, simulate): where it is and the tokens.</summary>
public abstract class DeploymentSettings : ReplaySettings
{
    [CommandOption("--address <URL>")]
    [Description("gRPC address of the deployment (the all-in-one program's, or one that routes all three services).")]
    [DefaultValue("http://127.0.0.1:7400")]
    public string Address { get; init; } = "http://127.0.0.1:7400";

    [CommandOption("--embedded-data <FOLDER>")]
    [Description("The embedded default's data folder: tokens are signed with its development key and step-ups use its simulated provider's secret. Default: services/host/Oversight.AllInOne/data when no token is given.")]
    public string? EmbeddedData { get; init; }

    [CommandOption("--operator-token <FILE>")]
    [Description("File holding an operator token of the marketplace (instead of --embedded-data).")]
    public string? OperatorToken { get; init; }

    [CommandOption("--provider-token <FILE>")]
    [Description("File holding a provider token (provider claim \"replay-provider\") of the marketplace.")]
    public string? ProviderToken { get; init; }

    /// <summary>--admin-token (live only: the simulation sets neither the clock nor the policy).</summary>
    public virtual string? AdminToken { get; init; }

    [CommandOption("--callback-secret-id <ID>")]
    [Description("The simulated identity provider's callback secret id (identity and organisation step-ups).")]
    public string? CallbackSecretId { get; init; }

    [CommandOption("--callback-secret <SECRET>")]
    [Description("The simulated identity provider's callback secret.")]
    public string? CallbackSecret { get; init; }

    [CommandOption("--limit <JOBS>")]
    [Description("Replay only the first JOBS jobs (in start order): live runs make several calls per job. Default: every job (simulate: 3000).")]
    public int? Limit { get; init; }

    /// <summary>A marketplace of its own for each live run, so that a run never meets an earlier one's accounts or provider.</summary>
    protected override string DefaultMarketplace => $"replay-{StartedAt:yyyyMMdd-HHmmss}";

    protected DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    public override ValidationResult Validate()
    {
        var result = base.Validate();
        if (!result.Successful)
        {
            return result;
        }

        if (Limit is < 1)
        {
            return ValidationResult.Error("--limit must be at least 1 job");
        }

        return Uri.TryCreate(Address, UriKind.Absolute, out _) ? ValidationResult.Success() : ValidationResult.Error($"--address '{Address}' is not an absolute URL");
    }

    /// <summary>Tokens and the callback secret, from token files or the embedded default's data folder.</summary>
    public LiveTarget Target()
    {
        var data = EmbeddedData ?? (OperatorToken is null ? Path.Combine("services", "host", "Oversight.AllInOne", "data") : null);
        Func<string, string?, string?, string> tokens;
        string? secretId = CallbackSecretId, secret = CallbackSecret;
        if (data is not null)
        {
            var keyFile = Path.Combine(data, DevelopmentSigningKey.FileName);
            if (!File.Exists(keyFile))
            {
                throw new FileNotFoundException(EmbeddedData is null
                    ? $"no development key at {Path.GetFullPath(keyFile)}: run from the repository's root (the embedded default keeps its data folder there), start the embedded default once, or pass --embedded-data DIR or token files"
                    : $"no development key at {Path.GetFullPath(keyFile)}: is --embedded-data the embedded default's data folder?", keyFile);
            }

            var key = DevelopmentSigningKey.LoadOrCreate(data);
            tokens = (role, marketplace, provider) => key.CreateToken("oversight", role, marketplace, provider, "oversight-replay", TimeSpan.FromHours(12), DateTimeOffset.UtcNow);
            var secrets = Path.Combine(data, "kyc-development-secrets.json");
            if (secretId is null && File.Exists(secrets))
            {
                using var json = JsonDocument.Parse(File.ReadAllText(secrets));
                secretId = json.RootElement.GetProperty("simulatedSecretId").GetString();
                secret = json.RootElement.GetProperty("simulatedSecret").GetString();
            }
        }
        else
        {
            var files = new Dictionary<string, string?> { ["operator"] = OperatorToken, ["provider"] = ProviderToken, ["admin"] = AdminToken };
            tokens = (role, _, _) => files.GetValueOrDefault(role) is { } file
                ? File.ReadAllText(file).Trim()
                : throw new ArgumentException($"no token for role {role}: give --{role}-token");
        }

        return LiveTarget.SingleAddress(new Uri(Address), tokens, secretId, secret);
    }
}

/// <summary>A replay against a running deployment: run's options, as they apply live.</summary>
public sealed class LiveSettings : DeploymentSettings
{
    [CommandOption("-p|--policy <PATH>")]
    [Description(OptionHelp.Policy + " The deployment's policy must be it (or pass --set-policy).")]
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
    [Description(OptionHelp.SybilSplit + " Unlinked: linked pseudonyms (run's --sybil-linked) are not replayed live.")]
    [DefaultValue(1)]
    public override int SybilSplit { get; init; } = 1;

    [CommandOption("--admin-token <FILE>")]
    [Description("File holding a deployment-wide admin token (SetClock, and SetPolicy with --set-policy).")]
    public override string? AdminToken { get; init; }

    [CommandOption("--set-policy")]
    [Description("Set the replay's policy (--policy, or the default) on the deployment first (admin). Without it the deployment's policy must already be the replay's.")]
    public bool SetPolicy { get; init; }

    [CommandOption("--compare")]
    [Description("Also replay in process and compare the verdicts one by one; exit 3 if any differs.")]
    public bool Compare { get; init; }
}

/// <summary>Replays a trace against a running deployment (its simulation clock), and reports as the in-process replay does.</summary>
public sealed class LiveCommand : AsyncCommand<LiveSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, LiveSettings settings, CancellationToken cancellationToken)
    {
        var trace = await Console2.StepAsync("Reading the trace", () => settings.Load(), cancellationToken);
        if (settings.Limit is { } limit)
        {
            trace = trace.Take(limit);
        }

        Console2.TraceLoaded(trace);
        var options = settings.Options();
        var target = settings.Target();
        var backend = await LiveBackend.ConnectAsync(target, options, trace.Jobs.Count == 0 ? 0 : trace.Jobs[0].Start, settings.SetPolicy, cancellationToken: cancellationToken);
        var live = new List<VerdictEvent>();
        var result = await Console2.WithProgressAsync(!settings.NoProgress, "Replaying live", trace.Jobs.Count,
            progress => ReplayRun.RunAsync(trace, options, backend, cancellationToken, progress, live.Add));
        await backend.ConfirmAllCountedAsync(result.LastEnd, cancellationToken);
        // The comparison comes before the outputs, which are written last: an interrupted run has written none.
        var inProcess = new List<VerdictEvent>();
        if (settings.Compare)
        {
            await ReplayRun.InProcessAsync(trace, options, cancellationToken, onVerdict: inProcess.Add);
        }

        Console2.Done(ReplayReports.WriteRun(settings.OutFolder("-live"), result, trace, "live", cancellationToken));
        Console2.Headline(new ReportFacts(result));
        if (!settings.Compare)
        {
            return 0;
        }

        var differences = VerdictComparison.Differences(inProcess, live);
        Console.WriteLine($"compared {Wording.Count(inProcess.Count, "verdict")} with the in-process replay: {differences.Count} {(differences.Count == 1 ? "differs" : "differ")}");
        foreach (var difference in differences.Take(10))
        {
            Console.WriteLine("  " + difference);
        }

        return differences.Count == 0 ? 0 : 3;
    }
}
