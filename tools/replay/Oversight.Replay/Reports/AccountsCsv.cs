using System.Globalization;
using System.Text;
using Oversight.Replay.Simulation;

namespace Oversight.Replay.Reports;

/// <summary>accounts.csv: one row per trace account, sorted by name (ordinal).</summary>
public static class AccountsCsv
{
    public static string Write(ReplayResult result)
    {
        var ladder = result.Policy.Ladder;
        var text = new StringBuilder();
        text.Append("account,pseudonyms,jobs,jobs_run,jobs_denied,jobs_lost_to_abandonment,flop_units_requested,flop_units_run,gpu_seconds_run,highest_tier,")
            .Append("first_job,first_asked_stated_purpose,first_asked_identity,first_asked_organisation,first_denied,abandoned_at");
        foreach (var tier in ladder)
        {
            text.Append(",flop_units_run_").Append(tier.Id);
        }

        text.Append('\n');
        foreach (var user in result.Users.OrderBy(u => u.Name, StringComparer.Ordinal))
        {
            text.Append(Field(user.Name)).Append(',')
                .Append(CultureInfo.InvariantCulture, $"{user.Pseudonyms.Count},{user.Jobs},{user.JobsRun},{user.JobsDenied},{user.JobsLost},{user.FlopRequested},{user.FlopRun},{user.GpuSecondsRun},")
                .Append(ladder[user.HighestTier].Id).Append(',')
                .Append(ReportFacts.Time(user.FirstJobAt)).Append(',')
                .Append(ReportFacts.Time(user.FirstAskedPurposeAt)).Append(',')
                .Append(ReportFacts.Time(user.FirstAskedIdentityAt)).Append(',')
                .Append(ReportFacts.Time(user.FirstAskedOrganisationAt)).Append(',')
                .Append(ReportFacts.Time(user.FirstDeniedAt)).Append(',')
                .Append(ReportFacts.Time(user.AbandonedAt));
            foreach (var flop in user.FlopRunByTier)
            {
                text.Append(',').Append(flop.ToString(CultureInfo.InvariantCulture));
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    /// <summary>RFC 4180 quoting for names that hold a comma, a quote or a line break.</summary>
    public static string Field(string value) =>
        value.AsSpan().IndexOfAny(",\"\r\n") < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
