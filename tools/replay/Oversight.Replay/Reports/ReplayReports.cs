using System.Globalization;
using System.Text;
using System.Text.Json;
using Oversight.Policy;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;
using static Oversight.Replay.Reports.HtmlPage;

namespace Oversight.Replay.Reports;

/// <summary>Writes a replay's, a sweep's or a what-if's output folder.</summary>
public static class ReplayReports
{
    /// <summary>summary.json, accounts.csv, report.html and the policy replayed (policy.yaml); none when cancelled.</summary>
    public static IReadOnlyList<string> WriteRun(string folder, ReplayResult result, TraceLoad trace, string mode, CancellationToken cancellationToken = default)
    {
        using var output = new OutputFolder(folder);
        WriteRun(output, result, trace, mode, cancellationToken);
        return output.Complete(cancellationToken);
    }

    /// <summary>Adds a run's files to <paramref name="output"/> (beside a verdict log, say); they are in place once it completes.</summary>
    public static void WriteRun(OutputFolder output, ReplayResult result, TraceLoad trace, string mode, CancellationToken cancellationToken = default)
    {
        var facts = new ReportFacts(result);
        Write(output, cancellationToken,
            ("summary.json", () => SummaryJson.Write(facts, trace, mode)),
            ("accounts.csv", () => AccountsCsv.Write(result)),
            ("report.html", () => RunHtml(facts, trace, mode)),
            ("policy.yaml", () => Policy.Documents.PolicyLoader.ToYaml(result.Options.Policy)));
    }

    public static string RunHtml(ReportFacts facts, TraceLoad trace, string mode)
    {
        var result = facts.Result;
        var ladder = result.Policy.Ladder;
        var page = new HtmlPage($"Oversight replay: {string.Join(", ", trace.Files.Select(f => f.Name))}");
        page.Paragraph($"{Wording.Count(facts.Users, "user")} ({Wording.Count(result.Pseudonyms, "pseudonym")}) ran {Wording.Count(result.Jobs, "job")} from {ReportFacts.Time(result.FirstStart)} to "
            + $"{ReportFacts.Time(result.LastEnd)}, replayed {mode} through the enforcement policy core ({Wording.Count(result.Events, "event")}).");
        page.Heading("Summary");
        var rows = new List<IReadOnlyList<string>>();
        foreach (var kind in ReportFacts.StepUps.Where(k => facts.LevelOf(k) is not null))
        {
            rows.Add([$"users asked to {Charts.Label(kind)}", N(facts.Asked[kind]), P(facts.Share(facts.Asked[kind], facts.Users))]);
        }

        rows.Add(["users denied at least once", N(facts.UsersDenied), P(facts.Share(facts.UsersDenied, facts.Users))]);
        rows.Add(["users who abandoned at a step-up", N(facts.UsersAbandoned), P(facts.Share(facts.UsersAbandoned, facts.Users))]);
        rows.Add(["compute run anonymously (10^12 FLOP)", N(facts.FlopRunByTier[0]), P(facts.Share(facts.FlopRunByTier[0], facts.FlopRun))]);
        rows.Add(["compute denied (10^12 FLOP)", N(facts.FlopDenied), P(facts.Share(facts.FlopDenied, facts.FlopRequested))]);
        rows.Add(["compute lost to abandonment (10^12 FLOP)", N(facts.FlopLost), P(facts.Share(facts.FlopLost, facts.FlopRequested))]);
        page.Table(["", "count", "share"], rows);
        page.Paragraph("Shares of users are of all users; compute run anonymously is a share of compute run; denied and lost compute are shares of compute requested.", note: true);
        page.Table(["verdict", "count"], ReportFacts.Verdicts.Select(v => (IReadOnlyList<string>)[ReportFacts.Snake(v), N(result.VerdictCount(v))]));
        page.Table(["tier", "users whose highest tier it is", "compute run at the tier (10^12 FLOP)", "share of compute run by users at or above it"],
            Enumerable.Range(0, ladder.Count).Select(level => (IReadOnlyList<string>)
            [
                ladder[level].DisplayName, N(result.Users.LongCount(u => u.HighestTier == level)), N(facts.FlopRunByTier[level]),
                P(result.ComputeShareOfUsersAtOrAbove(level)),
            ]));

        page.Heading("Charts");
        page.Figure(Charts.ComputeByTier(result), "Compute run per time bucket, stacked by the tier each job was admitted at.");
        page.Figure(Charts.AskedOverTime(result), "Users asked at least once for each step-up, cumulative.");
        page.Figure(Charts.TimeToFirstStepUp(facts),
            ReportFacts.Percentile(facts.TimesToFirstStepUp, 0.5) is { } median
                ? $"Time from a user's first job to its first REQUIRE_* verdict ({Wording.Count(facts.TimesToFirstStepUp.Length, "user")}; median {Seconds(median)})."
                : "Time from a user's first job to its first REQUIRE_* verdict: no user was asked to step up.");
        var largest = result.Users.OrderByDescending(u => u.FlopRun).ThenBy(u => u.Name, StringComparer.Ordinal).Take(20).ToArray();
        page.Figure(Charts.LargestUsers(result, largest), "The 20 users that ran the most compute.");
        page.Table(["user", "jobs", "run", "denied", "lost", "compute run (10^12 FLOP)", "highest tier", "first asked"],
            largest.Select(u => (IReadOnlyList<string>)
            [
                u.Name, N(u.Jobs), N(u.JobsRun), N(u.JobsDenied), N(u.JobsLost), N(u.FlopRun), ladder[u.HighestTier].DisplayName, ReportFacts.Time(u.FirstStepUpAt),
            ]));
        page.Provenance(trace, result.Options, result.Timeline.BucketSeconds);
        return page.ToString();
    }

    /// <summary>sweep.csv, sweep.json and sweep.html: the trade-off per point; none when cancelled.</summary>
    public static IReadOnlyList<string> WriteSweep(string folder, IReadOnlyList<SweepPoint> points, TraceLoad trace, ReplayOptions options, CancellationToken cancellationToken = default)
    {
        var csv = new StringBuilder("point,policy_sha256,users,users_asked_stated_purpose,share_asked_stated_purpose,share_compute_at_or_above_stated_purpose,"
            + "users_asked_identity,share_asked_identity,share_compute_at_or_above_identity,users_asked_organisation,share_asked_organisation,share_compute_at_or_above_organisation,"
            + "share_compute_run_anonymously,users_denied,flop_units_run,flop_units_denied\n");
        foreach (var point in points)
        {
            var f = point.Facts;
            csv.Append(AccountsCsv.Field(point.Label)).Append(',').Append(ReportFacts.PolicyHash(f.Result.Options.Policy)).Append(',').Append(f.Users);
            foreach (var kind in ReportFacts.StepUps)
            {
                csv.Append(',').Append(f.Asked[kind]).Append(',').Append(Share(point.AskedShare, kind)).Append(',').Append(Share(point.CoveredShare, kind));
            }

            csv.Append(',').Append(ReportFacts.Number(f.Share(f.FlopRunByTier[0], f.FlopRun))).Append(',').Append(f.UsersDenied)
                .Append(',').Append(f.FlopRun).Append(',').Append(f.FlopDenied).Append('\n');
        }

        var page = new HtmlPage($"Oversight policy sweep: {string.Join(", ", trace.Files.Select(t => t.Name))}");
        page.Paragraph($"{Wording.Count(points.Count, "policy", "policies")} replayed over the same trace. Each point: the share of users a step-up asks, against the share of all compute that users at or above that tier ran (what the step-up brings under scrutiny).");
        page.Figure(Charts.TradeOff(points), "Trade-off curve; labels name the sweep points.");
        // Every step-up a point's ladder has, as sweep.csv gives them.
        var stepUps = ReportFacts.StepUps.Where(k => points.Any(p => p.AskedShare.ContainsKey(k))).ToArray();
        page.Table(["point", .. stepUps.SelectMany(k => (string[])[$"asked to {Charts.Label(k)}", "compute covered"]), "run anonymously", "users denied"],
            points.Select(p => (IReadOnlyList<string>)
            [
                p.Label, .. stepUps.SelectMany(k => (string[])[Percent(p.AskedShare, k), Percent(p.CoveredShare, k)]),
                P(p.Facts.Share(p.Facts.FlopRunByTier[0], p.Facts.FlopRun)), N(p.Facts.UsersDenied),
            ]));
        page.Table(["point", "policy"], points.Select(p => (IReadOnlyList<string>)[p.Label, p.Facts.Result.Options.PolicySource]));
        page.Provenance(trace, options, points.Count > 0 ? points[0].Facts.Result.Timeline.BucketSeconds : 0);

        using var output = new OutputFolder(folder);
        Write(output, cancellationToken, ("sweep.csv", csv.ToString), ("sweep.json", () => SweepJson(points, trace, options)), ("sweep.html", page.ToString));
        return output.Complete(cancellationToken);
    }

    /// <summary>whatif.csv, whatif.json and whatif.html; none when cancelled.</summary>
    public static IReadOnlyList<string> WriteWhatIf(string folder, IReadOnlyList<WhatIfRow> abandonment, IReadOnlyList<WhatIfRow> sybil, TraceLoad trace, ReplayOptions options, CancellationToken cancellationToken = default)
    {
        var rows = abandonment.Concat(sybil).ToArray();
        var baseline = WhatIfRow.BaselineAnonymousFlop(sybil);
        var csv = new StringBuilder("scenario,setting,")
            .AppendJoin(',', WhatIfCounts.Select(c => c.Name)).Append(",share_lost_to_abandonment\n");
        foreach (var row in rows)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{AccountsCsv.Field(row.Scenario)},{row.Setting},")
                .AppendJoin(',', WhatIfCounts.Select(c => c.Value(row, baseline).ToString(CultureInfo.InvariantCulture)))
                .Append(CultureInfo.InvariantCulture, $",{ReportFacts.Number(row.ShareLost)}\n");
        }

        var page = new HtmlPage($"Oversight what-ifs: {string.Join(", ", trace.Files.Select(t => t.Name))}");
        if (abandonment.Count > 0)
        {
            page.Heading("Abandonment at step-ups");
            page.Paragraph("Every step-up request is abandoned with probability p (the user leaves, and its later jobs are not run): the compute the marketplace loses.");
            page.Figure(Charts.Bars("Compute lost to abandonment", "share of compute requested (%)", abandonment.Select(r => r.Setting).ToArray(),
                [("lost", abandonment.Select(r => 100 * r.ShareLost).ToArray(), Charts.TierColour(3))], "abandonment"), "Share of requested compute not run because users left.");
            page.Table(["setting", "users abandoned", "compute lost (10^12 FLOP)", "share of compute requested"],
                abandonment.Select(r => (IReadOnlyList<string>)[r.Setting, N(r.Facts.UsersAbandoned), N(r.Facts.FlopLost), P(r.ShareLost)]));
        }

        if (sybil.Count > 0)
        {
            page.Heading("Sybil splitting");
            page.Paragraph("Each user's jobs spread round-robin over k pseudonyms. Unlinked, each pseudonym has its own budgets; linked by KYC, they share the budgets of the shared tiers. "
                + "\"Beyond one account\" is compute run anonymously beyond what one account per user ran anonymously (the baseline). Unlinked, that is compute escaping the threshold. "
                + "Linked, the shared budgets still hold; what remains is budget left under them that one account could not use while it waited for its step-up "
                + "(its jobs queue behind the step-up, while the other pseudonyms go on).");
            var labels = sybil.Select(r => $"{r.Scenario} {r.Setting}").ToArray();
            page.Figure(Charts.Bars("Compute run anonymously", "10^18 FLOP", labels, [("anonymous", sybil.Select(r => r.AnonymousFlop / 1e6).ToArray(), Charts.TierColour(0))], "sybil"),
                "Compute run at the anonymous rung under each scenario.");
            page.Table(["scenario", "setting", "pseudonyms", "asked to state a purpose", "compute run anonymously (10^12 FLOP)", "anonymous beyond one account (10^12 FLOP)"],
                sybil.Select(r => (IReadOnlyList<string>)[r.Scenario, r.Setting, N(r.Facts.Result.Pseudonyms), N(r.Facts.Asked[RequirementKind.StatedPurpose]), N(r.AnonymousFlop), N(r.BeyondBaseline(baseline))]));
        }

        var bucket = rows.FirstOrDefault()?.Facts.Result.Timeline.BucketSeconds ?? 0;
        page.Provenance(trace, options, bucket, abandonmentVaried: abandonment.Count > 0, sybilVaried: sybil.Count > 0);
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("tool", "oversight-replay what-if");
            SummaryJson.WriteTrace(json, trace);
            if (rows.Length > 0)
            {
                SummaryJson.WritePolicy(json, rows[0].Facts.Result);
            }

            json.WriteStartArray("scenarios");
            foreach (var row in rows)
            {
                json.WriteStartObject();
                json.WriteString("scenario", row.Scenario);
                json.WriteString("setting", row.Setting);
                foreach (var (name, value) in WhatIfCounts)
                {
                    json.WriteNumber(name, value(row, baseline));
                }

                SummaryJson.WriteNumber(json, "share_lost_to_abandonment", row.ShareLost);
                // Each scenario's own: the abandonment or split it varies, with everything else as given.
                SummaryJson.WriteParameters(json, row.Facts.Result.Options, row.Facts.Result.Timeline.BucketSeconds);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        using var output = new OutputFolder(folder);
        Write(output, cancellationToken, ("whatif.csv", csv.ToString), ("whatif.json", () => Encoding.UTF8.GetString(stream.ToArray()) + "\n"), ("whatif.html", page.ToString));
        return output.Complete(cancellationToken);
    }

    /// <summary>The whole-number columns of a what-if scenario, for its CSV row and its JSON object alike.</summary>
    private static readonly (string Name, Func<WhatIfRow, long?, long> Value)[] WhatIfCounts =
    [
        ("users", (r, _) => r.Facts.Users),
        ("pseudonyms", (r, _) => r.Facts.Result.Pseudonyms),
        ("users_asked_stated_purpose", (r, _) => r.Facts.Asked[RequirementKind.StatedPurpose]),
        ("users_asked_identity", (r, _) => r.Facts.Asked[RequirementKind.Identity]),
        ("users_abandoned", (r, _) => r.Facts.UsersAbandoned),
        ("flop_units_requested", (r, _) => r.Facts.FlopRequested),
        ("flop_units_run", (r, _) => r.Facts.FlopRun),
        ("flop_units_run_anonymously", (r, _) => r.AnonymousFlop),
        ("flop_units_anonymous_beyond_baseline", (r, baseline) => r.BeyondBaseline(baseline)),
        ("flop_units_lost_to_abandonment", (r, _) => r.Facts.FlopLost),
    ];

    private static string SweepJson(IReadOnlyList<SweepPoint> points, TraceLoad trace, ReplayOptions options)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("tool", "oversight-replay sweep");
            SummaryJson.WriteTrace(json, trace);
            json.WriteStartArray("points");
            foreach (var point in points)
            {
                json.WriteStartObject();
                json.WriteString("point", point.Label);
                json.WriteString("policy", point.Facts.Result.Options.PolicySource);
                json.WriteString("policy_sha256", ReportFacts.PolicyHash(point.Facts.Result.Options.Policy));
                json.WriteNumber("users", point.Facts.Users);
                foreach (var kind in point.AskedShare.Keys)
                {
                    SummaryJson.WriteNumber(json, $"share_asked_{ReportFacts.Snake(kind)}", point.AskedShare[kind]);
                    SummaryJson.WriteNumber(json, $"share_compute_at_or_above_{ReportFacts.Snake(kind)}", point.CoveredShare[kind]);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            SummaryJson.WriteParameters(json, options, points.Count > 0 ? points[0].Facts.Result.Timeline.BucketSeconds : 0);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static string Share(IReadOnlyDictionary<RequirementKind, double> shares, RequirementKind kind) =>
        shares.TryGetValue(kind, out var share) ? ReportFacts.Number(share) : "";

    private static string Percent(IReadOnlyDictionary<RequirementKind, double> shares, RequirementKind kind) =>
        shares.TryGetValue(kind, out var share) ? P(share) : "-";

    private static string Seconds(long seconds) => seconds switch
    {
        < 120 => $"{seconds} s",
        < 7200 => $"{seconds / 60} min",
        < 172800 => string.Create(CultureInfo.InvariantCulture, $"{seconds / 3600.0:0.#} h"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{seconds / 86400.0:0.#} days"),
    };

    /// <summary>Writes each file in turn, stopping before the next when cancelled (a report of a large run takes a while to make).</summary>
    private static void Write(OutputFolder output, CancellationToken cancellationToken, params (string Name, Func<string> Text)[] files)
    {
        foreach (var (name, text) in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            output.Write(name, text());
        }
    }
}
