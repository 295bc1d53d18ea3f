using System.Text;
using System.Text.Json;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Reports;

/// <summary>
/// summary.json: what was replayed (trace provenance, policy, parameters) and what happened.
/// Written by hand with Utf8JsonWriter so the key order is fixed and the bytes repeat exactly.
/// </summary>
public static class SummaryJson
{
    public static string Write(ReportFacts facts, TraceLoad trace, string mode)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("tool", "oversight-replay");
            json.WriteString("mode", mode);
            WriteTrace(json, trace);
            WritePolicy(json, facts.Result);
            WriteParameters(json, facts.Result.Options, facts.Result.Timeline.BucketSeconds);
            WriteResults(json, facts);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    public static void WriteTrace(Utf8JsonWriter json, TraceLoad trace)
    {
        json.WriteStartObject("trace");
        json.WriteString("format", trace.Format);
        json.WriteStartArray("files");
        foreach (var file in trace.Files)
        {
            json.WriteStartObject();
            json.WriteString("name", file.Name);
            json.WriteNumber("bytes", file.Bytes);
            json.WriteString("sha256", file.Sha256);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteNumber("rows_read", trace.RowsRead);
        json.WriteNumber("jobs", trace.Jobs.Count);
        WriteCounts(json, "rows_filtered", trace.RowsFiltered);
        json.WriteNumber("accounts_only_in_rows_filtered", trace.AccountsOnlyInRowsLeftOut);
        WriteCounts(json, "rows_skipped", trace.RowsSkipped);
        WriteStrings(json, "bad_row_examples", trace.BadRowExamples);
        WriteStrings(json, "assumptions", trace.Assumptions);
        json.WriteEndObject();
    }

    public static void WritePolicy(Utf8JsonWriter json, ReplayResult result)
    {
        json.WriteStartObject("policy");
        json.WriteString("source", result.Options.PolicySource);
        json.WriteString("sha256", ReportFacts.PolicyHash(result.Options.Policy));
        json.WriteString("marketplace", result.Options.Marketplace);
        json.WriteStartArray("ladder");
        foreach (var tier in result.Policy.Ladder)
        {
            json.WriteStartObject();
            json.WriteString("id", tier.Id);
            json.WriteString("requirement", tier.Requirement == Policy.RequirementKind.None ? "none" : ReportFacts.Snake(tier.Requirement));
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    public static void WriteParameters(Utf8JsonWriter json, ReplayOptions options, long bucketSeconds)
    {
        var behaviour = options.Behaviour;
        json.WriteStartObject("parameters");
        json.WriteNumber("seed", options.Seed);
        json.WriteNumber("attest_interval_seconds", options.AttestIntervalSeconds);
        json.WriteNumber("step_up_delay_stated_purpose_seconds", behaviour.PurposeDelaySeconds);
        json.WriteNumber("step_up_delay_identity_seconds", behaviour.IdentityDelaySeconds);
        json.WriteNumber("step_up_delay_organisation_seconds", behaviour.OrganisationDelaySeconds);
        json.WriteNumber("abandon_at_stated_purpose", behaviour.AbandonAtPurpose);
        json.WriteNumber("abandon_at_identity", behaviour.AbandonAtIdentity);
        json.WriteNumber("abandon_at_organisation", behaviour.AbandonAtOrganisation);
        json.WriteNumber("sybil_split", options.SybilSplit);
        json.WriteBoolean("sybil_linked", options.SybilLinked);
        json.WriteNumber("timeline_bucket_seconds", bucketSeconds);
        json.WriteEndObject();
    }

    private static void WriteResults(Utf8JsonWriter json, ReportFacts facts)
    {
        var result = facts.Result;
        json.WriteStartObject("results");
        json.WriteNumber("users", facts.Users);
        json.WriteNumber("pseudonyms", result.Pseudonyms);
        json.WriteNumber("jobs", result.Jobs);
        json.WriteNumber("events", result.Events);
        json.WriteString("first_start", ReportFacts.Time(result.FirstStart));
        json.WriteString("last_end", ReportFacts.Time(result.LastEnd));
        json.WriteStartObject("verdicts");
        foreach (var verdict in ReportFacts.Verdicts)
        {
            json.WriteNumber(ReportFacts.Snake(verdict), result.VerdictCount(verdict));
        }

        json.WriteEndObject();
        json.WriteStartObject("users_asked");
        foreach (var (kind, count) in facts.Asked)
        {
            json.WriteStartObject(ReportFacts.Snake(kind));
            json.WriteNumber("count", count);
            WriteNumber(json, "share", facts.Share(count, facts.Users));
            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.WriteNumber("users_denied", facts.UsersDenied);
        json.WriteNumber("users_abandoned", facts.UsersAbandoned);
        json.WriteStartObject("users_by_highest_tier");
        for (var level = 0; level < result.Policy.Ladder.Count; level++)
        {
            json.WriteNumber(result.Policy.Ladder[level].Id, result.Users.LongCount(u => u.HighestTier == level));
        }

        json.WriteEndObject();
        json.WriteStartObject("compute");
        json.WriteNumber("flop_units_requested", facts.FlopRequested);
        json.WriteNumber("flop_units_run", facts.FlopRun);
        json.WriteNumber("flop_units_denied", facts.FlopDenied);
        json.WriteNumber("flop_units_lost_to_abandonment", facts.FlopLost);
        json.WriteNumber("gpu_seconds_run", facts.GpuSecondsRun);
        json.WriteStartObject("flop_units_run_by_tier");
        for (var level = 0; level < result.Policy.Ladder.Count; level++)
        {
            json.WriteNumber(result.Policy.Ladder[level].Id, facts.FlopRunByTier[level]);
        }

        json.WriteEndObject();
        WriteNumber(json, "share_run_anonymously", facts.Share(facts.FlopRunByTier[0], facts.FlopRun));
        json.WriteStartObject("share_run_by_users_at_or_above");
        for (var level = 1; level < result.Policy.Ladder.Count; level++)
        {
            WriteNumber(json, result.Policy.Ladder[level].Id, result.ComputeShareOfUsersAtOrAbove(level));
        }

        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteStartObject("time_to_first_step_up_seconds");
        json.WriteNumber("users", facts.TimesToFirstStepUp.Length);
        // Null, not 0, when no user was asked: 0 would read as "asked at once".
        WriteNumberOrNull(json, "p50", ReportFacts.Percentile(facts.TimesToFirstStepUp, 0.5));
        WriteNumberOrNull(json, "p90", ReportFacts.Percentile(facts.TimesToFirstStepUp, 0.9));
        WriteNumberOrNull(json, "max", ReportFacts.Percentile(facts.TimesToFirstStepUp, 1));
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteNumberOrNull(Utf8JsonWriter json, string name, long? value)
    {
        if (value is { } number)
        {
            json.WriteNumber(name, number);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    /// <summary>A share rounded to 6 decimals, written the same way on every platform.</summary>
    public static void WriteNumber(Utf8JsonWriter json, string name, double value)
    {
        json.WritePropertyName(name);
        json.WriteRawValue(ReportFacts.Number(value), skipInputValidation: true);
    }

    private static void WriteCounts(Utf8JsonWriter json, string name, IReadOnlyDictionary<string, long> counts)
    {
        json.WriteStartObject(name);
        foreach (var (reason, count) in counts.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            json.WriteNumber(reason, count);
        }

        json.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }
}
