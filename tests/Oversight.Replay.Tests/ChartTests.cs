using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Oversight.Policy;
using Oversight.Policy.Documents;
using Oversight.Replay.Reports;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Tests;

/// <summary>
/// The report's charts read as a browser would draw them: the SVG's text elements, each given the box
/// its text takes in a wide common sans-serif (DejaVu Sans, the Linux default; Arial and Helvetica are
/// narrower), must lie inside the chart and overlap no other text: time-axis labels over spans from
/// minutes to decades, legends, the sweep's point labels. Counts are drawn on whole-number axes, and
/// a chart of step-ups says so when nobody was asked.
/// </summary>
public sealed partial class ChartTests : IDisposable
{
    private static readonly Lazy<Task<ReplayResult>> LoraRun = new(() => Replay(TraceFormats.Load(SharedTraces.Lora, null, new TraceReadOptions())));
    private static readonly Lazy<Task<ReplayResult>> PhillyRun = new(() => Replay(SharedTraces.LoadPhilly()));

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task The_time_axis_over_the_days_of_the_lora_trace_has_labels_that_do_not_overlap()
    {
        var result = await LoraRun.Value;
        Assert.True(result.LastEnd - result.FirstStart > 14 * 86400, "the LoRA trace spans weeks");

        foreach (var svg in new[] { Charts.ComputeByTier(result), Charts.AskedOverTime(result) })
        {
            var texts = Texts(svg);
            AssertLegible(svg, texts);
            var labels = TimeLabels(texts);
            Assert.InRange(labels.Length, 4, 14);
        }
    }

    [Fact]
    public async Task The_time_axis_over_the_hours_of_the_philly_trace_has_labels_that_do_not_overlap()
    {
        var result = await PhillyRun.Value;
        var svg = Charts.ComputeByTier(result);

        var texts = Texts(svg);
        AssertLegible(svg, texts);
        var labels = TimeLabels(texts);
        Assert.InRange(labels.Length, 4, 14);
        Assert.All(labels, l => Assert.Matches(@"^\d\d:\d\d$", l.Text)); // within one day: times of day, the date in the axis title
        Assert.Contains(texts, t => t.Text == "UTC, 2017-10-03");
    }

    [Theory]
    [InlineData("2023-11-14T22:13:20Z", 600)] // ten minutes
    [InlineData("2023-11-14T22:13:20Z", 3 * 3600)] // hours, across midnight
    [InlineData("2023-11-14T22:13:20Z", 3 * 86400)] // days
    [InlineData("2023-12-20T05:00:00Z", 22 * 86400)] // weeks, across a new year
    [InlineData("2024-02-03T10:00:00Z", 120 * 86400)] // months
    [InlineData("2021-07-01T00:00:00Z", 3 * 366 * 86400)] // years
    [InlineData("1990-03-01T00:00:00Z", 35L * 366 * 86400)] // decades
    public async Task The_time_axis_labels_do_not_overlap_from_minutes_to_decades(string start, long spanSeconds)
    {
        var first = DateTimeOffset.Parse(start, CultureInfo.InvariantCulture).ToUnixTimeSeconds();
        var lines = new List<string> { "account,start,end,accelerator,count" };
        const int Jobs = 40;
        for (var i = 0; i < Jobs; i++)
        {
            var at = first + spanSeconds * i / (Jobs - 1);
            lines.Add(FormattableString.Invariant($"user-{i % 3},{at},{at + Math.Clamp(spanSeconds / Jobs, 1, 3600)},H100-SXM,1"));
        }

        var result = await Replay(TraceFormats.Load(_folder.WriteLines("jobs.csv", [.. lines]), null, new TraceReadOptions()));

        foreach (var svg in new[] { Charts.ComputeByTier(result), Charts.AskedOverTime(result) })
        {
            var texts = Texts(svg);
            AssertLegible(svg, texts);
            Assert.InRange(TimeLabels(texts).Length, 2, 14);
        }
    }

    [Fact]
    public async Task The_largest_users_legend_lies_inside_the_chart()
    {
        var result = await PhillyRun.Value;
        var largest = result.Users.OrderByDescending(u => u.FlopRun).Take(20).ToArray();

        var svg = Charts.LargestUsers(result, largest);

        var texts = Texts(svg);
        AssertLegible(svg, texts);
        var legend = Assert.Single(texts, t => t.Text == "Organisation verified");
        Assert.True(legend.Box.Right <= SvgSize(svg).Width, $"the legend's last entry ends at x={legend.Box.Right:0}, past the chart's right edge");
    }

    [Fact]
    public async Task Coinciding_sweep_points_of_a_step_up_get_one_label_on_philly()
    {
        // Philly at the default policy: every user is asked to state a purpose at every scale (all at (1,1));
        // identity is asked at x0.1 only; nobody is asked to verify an organisation (all at (0,0)).
        var points = await Sweep(SharedTraces.LoadPhilly(), [0.1m, 1m, 10m]);
        Assert.All(points, p => Assert.Equal((1.0, 1.0), (p.AskedShare[RequirementKind.StatedPurpose], p.CoveredShare[RequirementKind.StatedPurpose])));

        var svg = Charts.TradeOff(points);

        var texts = Texts(svg);
        AssertLegible(svg, texts);
        Assert.Equal(["x0.1", "x0.1–x10", "x0.1–x10", "x1, x10"], PointLabels(texts));
    }

    [Fact]
    public async Task Coinciding_sweep_points_of_a_step_up_get_one_label_on_lora()
    {
        // LoRA: from x0.3 up nobody is asked for anything, so three step-ups' points pile up at (0,0).
        var points = await Sweep(TraceFormats.Load(SharedTraces.Lora, null, new TraceReadOptions()), [0.001m, 0.01m, 0.3m, 1m, 10m]);

        var svg = Charts.TradeOff(points);

        var texts = Texts(svg);
        AssertLegible(svg, texts);
        var labels = PointLabels(texts);
        Assert.Contains("x0.3–x10", labels); // stating a purpose, at (0,0)
        Assert.Contains("x0.001–x10", labels); // verifying an organisation, every point at (0,0)
        Assert.DoesNotContain("x1", labels);
        Assert.DoesNotContain("x10", labels);
        Assert.True(labels.Length <= 7, $"{labels.Length} point labels for 5 points of 3 step-ups that mostly coincide: {string.Join(" | ", labels)}");
    }

    [Theory]
    [InlineData(new[] { 0, 1, 2, 4 }, "a–c, e")]
    [InlineData(new[] { 0, 1 }, "a, b")]
    [InlineData(new[] { 3 }, "d")]
    [InlineData(new[] { 4, 2, 0, 2 }, "a, c, e")]
    [InlineData(new[] { 1, 2, 3, 4 }, "b–e")]
    public void Point_names_write_runs_of_three_or_more_consecutive_points_as_a_range(int[] indices, string expected)
    {
        Assert.Equal(expected, Charts.PointNames(["a", "b", "c", "d", "e"], indices));
    }

    [Fact]
    public async Task The_time_to_first_step_up_says_that_nobody_was_asked_and_counts_whole_users()
    {
        var facts = new ReportFacts(await LoraRun.Value);
        Assert.Empty(facts.TimesToFirstStepUp); // nobody is asked anything on the LoRA trace at the default policy

        foreach (var svg in new[] { Charts.TimeToFirstStepUp(facts), Charts.AskedOverTime(facts.Result) })
        {
            var texts = Texts(svg);
            AssertLegible(svg, texts);
            Assert.Contains(texts, t => t.Text == "No user was asked to step up");
            AssertWholeNumbers(texts);
        }
    }

    [Fact]
    public async Task The_time_to_first_step_up_counts_whole_users_when_some_were_asked()
    {
        var facts = new ReportFacts(await PhillyRun.Value);
        Assert.NotEmpty(facts.TimesToFirstStepUp);

        var svg = Charts.TimeToFirstStepUp(facts);

        var texts = Texts(svg);
        AssertLegible(svg, texts);
        Assert.DoesNotContain(texts, t => t.Text.Contains("No user", StringComparison.Ordinal));
        AssertWholeNumbers(texts);
        Assert.Contains(texts, t => t.Text == "1");
    }

    /// <summary>A text of the SVG with the box its glyphs take (baseline at the anchor, as the exporter writes it).</summary>
    private sealed record SvgText(string Text, string Anchor, double Rotation, Box Box);

    private readonly record struct Box(double Left, double Top, double Right, double Bottom)
    {
        public double Width => Right - Left;

        public bool Overlaps(Box other) =>
            Left < other.Right - 0.5 && other.Left < Right - 0.5 && Top < other.Bottom - 0.5 && other.Top < Bottom - 0.5;
    }

    [Fact]
    public void The_compute_chart_draws_an_idle_stretch_as_zero_rather_than_joining_its_busy_ends()
    {
        var timeline = new ReplayTimeline(600, 4);
        timeline.Ran(1_700_000_400, 1_700_001_000, 0, 100);
        timeline.Ran(1_700_006_400, 1_700_007_000, 1, 50);

        var points = Charts.Contiguous(timeline, 4);

        Assert.Equal(Enumerable.Range(0, 11).Select(i => 1_700_000_400L + (i * 600)), points.Select(p => p.Key));
        Assert.Equal([100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50], points.Select(p => p.Value.FlopByTier.Sum()));
    }

    private static async Task<ReplayResult> Replay(TraceLoad trace) =>
        await ReplayRun.InProcessAsync(trace, new ReplayOptions { Policy = DefaultPolicy.Document, Seed = 7 });

    private static Task<IReadOnlyList<SweepPoint>> Sweep(TraceLoad trace, decimal[] factors)
    {
        var options = new ReplayOptions { Policy = DefaultPolicy.Document, Seed = 7 };
        return PolicySweep.RunAsync(trace, options, PolicySweep.ScaleGrid(options.Policy, "default", factors), parallelism: 4);
    }

    private static (double Width, double Height) SvgSize(string svg)
    {
        var root = XElement.Parse(svg);
        return (double.Parse(root.Attribute("width")!.Value, CultureInfo.InvariantCulture), double.Parse(root.Attribute("height")!.Value, CultureInfo.InvariantCulture));
    }

    private static SvgText[] Texts(string svg)
    {
        var texts = new List<SvgText>();
        foreach (var element in XElement.Parse(svg).Descendants().Where(e => e.Name.LocalName == "text"))
        {
            var content = element.Value;
            if (content.Length == 0)
            {
                continue;
            }

            var transform = TransformPattern().Match(element.Attribute("transform")?.Value ?? "");
            Assert.True(transform.Success, $"text '{content}' has no translate(x,y) transform");
            var x = double.Parse(transform.Groups["x"].Value, CultureInfo.InvariantCulture);
            var y = double.Parse(transform.Groups["y"].Value, CultureInfo.InvariantCulture);
            var rotation = transform.Groups["r"].Success ? double.Parse(transform.Groups["r"].Value, CultureInfo.InvariantCulture) : 0;
            var size = double.Parse(element.Attribute("font-size")?.Value ?? "12", CultureInfo.InvariantCulture);
            var bold = double.Parse(element.Attribute("font-weight")?.Value ?? "400", CultureInfo.InvariantCulture) >= 600;
            var anchor = element.Attribute("text-anchor")?.Value ?? "start";
            var width = TextWidth(content, size, bold);
            var (along0, along1) = anchor switch
            {
                "middle" => (-width / 2, width / 2),
                "end" => (-width, 0.0),
                _ => (0.0, width),
            };
            var (ascent, descent) = (0.93 * size, 0.24 * size);
            var box = rotation switch
            {
                0 => new Box(x + along0, y - ascent, x + along1, y + descent),
                -90 or 270 => new Box(x - ascent, y - along1, x + descent, y - along0), // reads upwards
                _ => throw new InvalidOperationException($"text '{content}' rotated by {rotation}"),
            };
            texts.Add(new SvgText(content, anchor, rotation, box));
        }

        return [.. texts];
    }

    /// <summary>Every text inside the chart, and no two texts overlapping.</summary>
    private static void AssertLegible(string svg, SvgText[] texts)
    {
        var (width, height) = SvgSize(svg);
        Assert.NotEmpty(texts);
        foreach (var text in texts)
        {
            Assert.True(text.Box.Left >= 0 && text.Box.Right <= width && text.Box.Top >= 0 && text.Box.Bottom <= height,
                $"'{text.Text}' ({text.Box.Left:0}..{text.Box.Right:0}, {text.Box.Top:0}..{text.Box.Bottom:0}) leaves the {width}x{height} chart");
        }

        for (var i = 0; i < texts.Length; i++)
        {
            for (var j = i + 1; j < texts.Length; j++)
            {
                Assert.False(texts[i].Box.Overlaps(texts[j].Box),
                    $"'{texts[i].Text}' at x={texts[i].Box.Left:0}..{texts[i].Box.Right:0}, y={texts[i].Box.Top:0}..{texts[i].Box.Bottom:0} overlaps "
                    + $"'{texts[j].Text}' at x={texts[j].Box.Left:0}..{texts[j].Box.Right:0}, y={texts[j].Box.Top:0}..{texts[j].Box.Bottom:0}");
            }
        }
    }

    /// <summary>The labels of the time axis: centred, upright, and shaped like a time, a date, a month or a year.</summary>
    private static SvgText[] TimeLabels(SvgText[] texts) =>
        texts.Where(t => t.Anchor == "middle" && t.Rotation == 0 && TimeLabelPattern().IsMatch(t.Text)).ToArray();

    private static string[] PointLabels(SvgText[] texts) =>
        texts.Select(t => t.Text).Where(t => t.StartsWith('x')).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Every number drawn is a whole number.</summary>
    private static void AssertWholeNumbers(SvgText[] texts)
    {
        var numbers = texts.Where(t => NumberPattern().IsMatch(t.Text)).ToArray();
        Assert.NotEmpty(numbers);
        Assert.All(numbers, n => Assert.Matches(@"^\d+$", n.Text));
    }

    /// <summary>
    /// A text's width in DejaVu Sans (advance widths in em, rounded up a little by class of character);
    /// bold about a tenth wider; characters outside these classes an em.
    /// </summary>
    private static double TextWidth(string text, double fontSize, bool bold)
    {
        double em = 0;
        foreach (var c in text)
        {
            em += c switch
            {
                >= '0' and <= '9' => 0.637,
                ' ' => 0.318,
                '.' or ',' or ':' or ';' => 0.337,
                '-' => 0.361,
                '(' or ')' => 0.39,
                '\'' => 0.275,
                '/' => 0.337,
                '^' or '<' or '>' or '=' or '+' => 0.838,
                '%' => 0.95,
                '_' or '–' => 0.5,
                'i' or 'l' or 'j' => 0.278,
                'f' => 0.352,
                't' => 0.392,
                'r' => 0.411,
                'm' => 0.974,
                'w' => 0.818,
                >= 'a' and <= 'z' => 0.636,
                'I' or 'J' => 0.295,
                'M' => 0.863,
                'W' => 0.989,
                >= 'A' and <= 'Z' => 0.787,
                _ => 1.0,
            };
        }

        return em * fontSize * (bold ? 1.1 : 1.0);
    }

    [GeneratedRegex(@"translate\((?<x>-?[\d.]+),(?<y>-?[\d.]+)\)(\s*rotate\((?<r>-?[\d.]+)\))?")]
    private static partial Regex TransformPattern();

    [GeneratedRegex(@"^(\d\d:\d\d(:\d\d)?|[A-Z][a-z]{2}( \d{1,2})?( \d{4})?|\d{4})$")]
    private static partial Regex TimeLabelPattern();

    [GeneratedRegex(@"^-?[\d.,]+$")]
    private static partial Regex NumberPattern();
}
