using System.Globalization;
using System.Net;
using System.Text;
using Oversight.Policy.Documents;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Reports;

/// <summary>A self-contained HTML page (inline CSS and SVG; readable offline), built section by section.</summary>
internal sealed class HtmlPage
{
    private readonly StringBuilder _html = new();

    public HtmlPage(string title)
    {
        _html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>").Append(E(title)).Append("</title>\n<style>\n")
            .Append("body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}")
            .Append("table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}")
            .Append("td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:85%}")
            .Append("figure{margin:1em 0}figcaption{font-size:90%;color:#555}.note{color:#555;font-size:92%}\n</style>\n</head>\n<body>\n<h1>")
            .Append(E(title)).Append("</h1>\n");
    }

    public static string E(string text) => WebUtility.HtmlEncode(text);

    public static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string P(double share) => ReportFacts.Percent(share);

    public HtmlPage Heading(string text)
    {
        _html.Append("<h2>").Append(E(text)).Append("</h2>\n");
        return this;
    }

    public HtmlPage Paragraph(string text, bool note = false)
    {
        _html.Append(note ? "<p class=\"note\">" : "<p>").Append(E(text)).Append("</p>\n");
        return this;
    }

    /// <summary>A table; cells that look like numbers or percentages are right-aligned.</summary>
    public HtmlPage Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        _html.Append("<table>\n<tr>");
        foreach (var h in header)
        {
            _html.Append("<th>").Append(E(h)).Append("</th>");
        }

        _html.Append("</tr>\n");
        foreach (var row in rows)
        {
            _html.Append("<tr>");
            foreach (var cell in row)
            {
                var numeric = cell.Length > 0 && (char.IsDigit(cell[0]) || cell[0] == '-') && cell.All(c => char.IsDigit(c) || c is ',' or '.' or '%' or '-');
                _html.Append(numeric ? "<td class=\"n\">" : "<td>").Append(E(cell)).Append("</td>");
            }

            _html.Append("</tr>\n");
        }

        _html.Append("</table>\n");
        return this;
    }

    public HtmlPage Figure(string svg, string caption)
    {
        _html.Append("<figure>\n").Append(svg).Append("\n<figcaption>").Append(E(caption)).Append("</figcaption>\n</figure>\n");
        return this;
    }

    public HtmlPage Preformatted(string text)
    {
        _html.Append("<pre>").Append(E(text)).Append("</pre>\n");
        return this;
    }

    public HtmlPage List(IEnumerable<string> items)
    {
        _html.Append("<ul>\n");
        foreach (var item in items)
        {
            _html.Append("<li>").Append(E(item)).Append("</li>\n");
        }

        _html.Append("</ul>\n");
        return this;
    }

    /// <summary>Provenance: the files (with hashes), rows left out, assumptions, parameters and the policy.</summary>
    /// <param name="abandonmentVaried">The page compares abandonment probabilities: each scenario has its own.</param>
    /// <param name="sybilVaried">The page compares sybil splits: each scenario has its own.</param>
    public HtmlPage Provenance(TraceLoad trace, ReplayOptions options, long bucketSeconds, bool abandonmentVaried = false, bool sybilVaried = false)
    {
        Heading("Trace");
        Table(["file", "bytes", "SHA-256"], trace.Files.Select(f => (IReadOnlyList<string>)[f.Name, N(f.Bytes), f.Sha256]));
        Paragraph($"Format {trace.Format}: {Wording.Count(trace.RowsRead, "row")} read, {Wording.Count(trace.Jobs.Count, "job")} replayed.");
        if (trace.RowsFiltered.Count > 0)
        {
            Paragraph("Rows that are not GPU usage, left out:");
            Table(["reason", "rows"], trace.RowsFiltered.Select(r => (IReadOnlyList<string>)[r.Key, N(r.Value)]));
            if (trace.AccountsOnlyInRowsLeftOut > 0)
            {
                Paragraph(trace.AccountsOnlyInRowsLeftOut == 1
                    ? "1 account appears only in rows left out, so the replay has no user for it."
                    : $"{N(trace.AccountsOnlyInRowsLeftOut)} accounts appear only in rows left out, so the replay has no user for them.");
            }
        }

        if (trace.RowsSkipped.Count > 0)
        {
            Paragraph("Malformed rows skipped (--skip-bad-rows):");
            Table(["reason", "rows"], trace.RowsSkipped.Select(r => (IReadOnlyList<string>)[r.Key, N(r.Value)]));
            List(trace.BadRowExamples);
        }

        Heading("Assumptions");
        List(trace.Assumptions.Append("Every job is authorized as one lease at its start and attested at least every "
            + $"{options.AttestIntervalSeconds} s and at its end. Unless the trace gives a job's FLOP, it is estimated as enforcement does for a request "
            + "that names no precision: accelerators x dense BF16/FP16 peak x duration x the policy's utilisation."));
        Heading("Parameters");
        var b = options.Behaviour;
        Table(["parameter", "value"],
        [
            ["seed", options.Seed.ToString(CultureInfo.InvariantCulture)],
            ["marketplace", options.Marketplace],
            ["step-up delay: stated purpose / identity / organisation (s)", $"{b.PurposeDelaySeconds} / {b.IdentityDelaySeconds} / {b.OrganisationDelaySeconds}"],
            ["abandon probability: stated purpose / identity / organisation", abandonmentVaried
                ? $"each abandonment scenario's p at every step-up; {ReportFacts.Number(b.AbandonAtPurpose)} / {ReportFacts.Number(b.AbandonAtIdentity)} / {ReportFacts.Number(b.AbandonAtOrganisation)} elsewhere"
                : $"{ReportFacts.Number(b.AbandonAtPurpose)} / {ReportFacts.Number(b.AbandonAtIdentity)} / {ReportFacts.Number(b.AbandonAtOrganisation)}"],
            ["attest interval (s)", options.AttestIntervalSeconds.ToString(CultureInfo.InvariantCulture)],
            ["sybil split (pseudonyms per user)", (sybilVaried ? "each sybil scenario's k (and links); elsewhere " : "")
                + options.SybilSplit.ToString(CultureInfo.InvariantCulture) + (options.SybilLinked ? ", linked by KYC" : "")],
            ["timeline bucket", Charts.Duration(bucketSeconds)],
        ]);
        Heading($"Policy ({options.PolicySource}, SHA-256 {ReportFacts.PolicyHash(options.Policy)[..16]}…)");
        Preformatted(PolicyLoader.ToYaml(options.Policy));
        return this;
    }

    public override string ToString() => _html + "</body>\n</html>\n";
}
