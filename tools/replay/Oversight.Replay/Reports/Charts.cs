using Oversight.Policy;
using Oversight.Replay.Simulation;
using OxyPlot;
using OxyPlot.Annotations;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;

namespace Oversight.Replay.Reports;

/// <summary>
/// The report's charts as inline SVG, drawn with OxyPlot's managed SVG exporter (no native
/// graphics library, and the same bytes on every machine).
/// </summary>
public static class Charts
{
    private const int Width = 860;
    private const int Height = 360;

    /// <summary>Colours by tier level (lowest rung first), then reused.</summary>
    private static readonly OxyColor[] TierColours =
    [
        OxyColor.FromRgb(0x9e, 0x9e, 0x9e), OxyColor.FromRgb(0x1f, 0x77, 0xb4), OxyColor.FromRgb(0xff, 0x7f, 0x0e),
        OxyColor.FromRgb(0xd6, 0x27, 0x28), OxyColor.FromRgb(0x94, 0x67, 0xbd), OxyColor.FromRgb(0x2c, 0xa0, 0x2c),
    ];

    public static OxyColor TierColour(int level) => TierColours[level % TierColours.Length];

    /// <summary>FLOP run per timeline bucket, stacked by the tier the job ran at; in units of 10^18 FLOP.</summary>
    public static string ComputeByTier(ReplayResult result)
    {
        var model = Model("Compute run, by the tier it ran at", "10^18 FLOP per " + Duration(result.Timeline.BucketSeconds));
        model.Axes.Add(TimeAxis());
        var points = result.Timeline.Points.ToArray();
        var below = new double[points.Length];
        for (var level = 0; level < result.Policy.Ladder.Count; level++)
        {
            if (points.All(p => p.Value.FlopByTier[level] == 0))
            {
                continue; // no band (and no legend entry) for a tier nothing ran at
            }

            var area = new AreaSeries { Title = result.Policy.Ladder[level].DisplayName, Color = TierColour(level), Fill = OxyColor.FromAColor(190, TierColour(level)), StrokeThickness = 0 };
            for (var i = 0; i < points.Length; i++)
            {
                var x = DateTimeAxis.ToDouble(DateTimeOffset.FromUnixTimeSeconds(points[i].Key).UtcDateTime);
                var top = below[i] + points[i].Value.FlopByTier[level] / 1e6;
                area.Points.Add(new DataPoint(x, top));
                area.Points2.Add(new DataPoint(x, below[i]));
                below[i] = top;
            }

            model.Series.Add(area);
        }

        return Svg(model, "compute");
    }

    /// <summary>Users asked for each step-up so far (cumulative), over time.</summary>
    public static string AskedOverTime(ReplayResult result)
    {
        var model = Model("Users asked for each step-up (cumulative)", "users");
        model.Axes.Add(TimeAxis());
        foreach (var kind in ReportFacts.StepUps)
        {
            var series = new StairStepSeries { Title = Label(kind), Color = TierColour((int)kind - 1), StrokeThickness = 2 };
            long total = 0;
            foreach (var (start, point) in result.Timeline.Points)
            {
                total += kind switch
                {
                    RequirementKind.StatedPurpose => point.AskedPurpose,
                    RequirementKind.Identity => point.AskedIdentity,
                    _ => point.AskedOrganisation,
                };
                series.Points.Add(new DataPoint(DateTimeAxis.ToDouble(DateTimeOffset.FromUnixTimeSeconds(start).UtcDateTime), total));
            }

            model.Series.Add(series);
        }

        return Svg(model, "asked");
    }

    /// <summary>How long users ran before their first REQUIRE_*, in log-spaced bins.</summary>
    public static string TimeToFirstStepUp(ReportFacts facts)
    {
        (string Label, long Below)[] bins =
        [
            ("at the first job", 1), ("< 10 minutes", 600), ("10 min - 1 hour", 3600), ("1 - 6 hours", 6 * 3600),
            ("6 - 24 hours", 86400), ("1 - 7 days", 7 * 86400), ("1 - 4 weeks", 28 * 86400), ("4 weeks or more", long.MaxValue),
        ];
        var counts = new long[bins.Length];
        foreach (var seconds in facts.TimesToFirstStepUp)
        {
            counts[Array.FindIndex(bins, b => seconds < b.Below)]++;
        }

        return Bars("Time from a user's first job to its first step-up request", "users", bins.Select(b => b.Label).ToArray(),
            [("users", counts.Select(c => (double)c).ToArray(), TierColour(1))], "first-step-up");
    }

    /// <summary>The 20 users that ran the most, their compute stacked by the tier it ran at.</summary>
    public static string LargestUsers(ReplayResult result, IReadOnlyList<SimulatedUser> largest)
    {
        var names = largest.Select(u => u.Name.Length > 24 ? u.Name[..23] + "…" : u.Name).ToArray();
        var series = Enumerable.Range(0, result.Policy.Ladder.Count)
            .Select(level => (result.Policy.Ladder[level].DisplayName, largest.Select(u => u.FlopRunByTier[level] / 1e6).ToArray(), TierColour(level)))
            .ToArray();
        return Bars("Largest users: compute run, by tier", "10^18 FLOP", names, series, "largest", stacked: true);
    }

    /// <summary>The sweep's trade-off: share of users asked for a step-up against the share of compute its tier covers.</summary>
    public static string TradeOff(IReadOnlyList<SweepPoint> points)
    {
        var model = Model("Trade-off: users asked vs compute covered", "share of compute run by users at or above the tier");
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "share of users asked for the step-up", Minimum = 0, Maximum = 1, MajorGridlineStyle = LineStyle.Dot });
        foreach (var kind in ReportFacts.StepUps)
        {
            var series = new LineSeries { Title = Label(kind), Color = TierColour((int)kind - 1), MarkerType = MarkerType.Circle, MarkerSize = 4, StrokeThickness = 1.5 };
            foreach (var point in points.Where(p => p.AskedShare.ContainsKey(kind)).OrderBy(p => p.AskedShare[kind]))
            {
                series.Points.Add(new DataPoint(point.AskedShare[kind], point.CoveredShare[kind]));
                model.Annotations.Add(new TextAnnotation
                {
                    Text = point.Label,
                    TextPosition = new DataPoint(point.AskedShare[kind], point.CoveredShare[kind]),
                    Stroke = OxyColors.Transparent,
                    FontSize = 9,
                    TextHorizontalAlignment = HorizontalAlignment.Left,
                    Offset = new ScreenVector(5, -4),
                });
            }

            if (series.Points.Count > 0)
            {
                model.Series.Add(series);
            }
        }

        model.Axes[0].Minimum = 0;
        model.Axes[0].Maximum = 1;
        return Svg(model, "trade-off");
    }

    /// <summary>Horizontal bars by category; several series side by side, or stacked.</summary>
    public static string Bars(string title, string valueTitle, string[] categories, (string Title, double[] Values, OxyColor Colour)[] series, string id, bool stacked = false)
    {
        // The measuring of the SVG exporter underestimates label widths: leave room for the longest category.
        var labelWidth = Math.Min(260, 16 + 7 * categories.Max(c => c.Length));
        var model = new PlotModel { Title = title, TitleFontSize = 14, DefaultFont = "sans-serif", PlotMargins = new OxyThickness(labelWidth, double.NaN, double.NaN, double.NaN) };
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.BottomRight, LegendPlacement = LegendPlacement.Inside, LegendBackground = OxyColor.FromAColor(200, OxyColors.White) });
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Left, ItemsSource = categories, StartPosition = 1, EndPosition = 0, GapWidth = 0.3 });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = valueTitle, Minimum = 0, MajorGridlineStyle = LineStyle.Dot, MaximumPadding = 0.1 });
        foreach (var (name, values, colour) in series)
        {
            var bars = new BarSeries { Title = series.Length > 1 ? name : null, FillColor = colour, IsStacked = stacked, StrokeThickness = 0 };
            bars.Items.AddRange(values.Select(v => new BarItem(v)));
            model.Series.Add(bars);
        }

        return Svg(model, id, Math.Max(Height, 60 + 22 * categories.Length));
    }

    public static string Label(RequirementKind kind) => kind switch
    {
        RequirementKind.StatedPurpose => "state a purpose",
        RequirementKind.Identity => "verify identity",
        RequirementKind.Organisation => "verify organisation",
        _ => "none",
    };

    public static string Duration(long seconds) => seconds switch
    {
        60 => "minute",
        3600 => "hour",
        86400 => "day",
        604800 => "week",
        _ when seconds % 86400 == 0 => $"{seconds / 86400} days",
        _ when seconds % 3600 == 0 => $"{seconds / 3600} hours",
        _ => $"{seconds / 60} minutes",
    };

    private static PlotModel Model(string title, string yTitle)
    {
        var model = new PlotModel { Title = title, TitleFontSize = 14, DefaultFont = "sans-serif" };
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.TopLeft, LegendPlacement = LegendPlacement.Inside, LegendBackground = OxyColor.FromAColor(200, OxyColors.White) });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = yTitle, Minimum = 0, MajorGridlineStyle = LineStyle.Dot, MaximumPadding = 0.08, AxisTitleDistance = 10 });
        return model;
    }

    private static DateTimeAxis TimeAxis() =>
        new() { Position = AxisPosition.Bottom, StringFormat = "yyyy-MM-dd HH:mm", MajorGridlineStyle = LineStyle.Dot, Title = "UTC", AxisTitleDistance = 6 };

    /// <summary>The SVG of a chart, its element ids prefixed so several charts can share one page.</summary>
    private static string Svg(PlotModel model, string id, int height = Height)
    {
        // The workaround places text without dominant-baseline, which some SVG renderers ignore.
        var svg = SvgExporter.ExportToString(model, Width, height, isDocument: false, useVerticalTextAlignmentWorkaround: true);
        return svg.Replace("clipPath", $"{id}-clip", StringComparison.Ordinal);
    }
}
