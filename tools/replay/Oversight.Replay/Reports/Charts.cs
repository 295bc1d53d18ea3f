using System.Globalization;
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

    /// <summary>The trade-off plot is taller: both its axes run 0 to 1, and its y-axis title is long.</summary>
    private const int TradeOffHeight = 440;

    /// <summary>What an empty histogram or step-up timeline says instead of showing nothing on a fractional axis.</summary>
    internal const string NobodyAsked = "No user was asked to step up";

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
        var points = Contiguous(result.Timeline, result.Policy.Ladder.Count);
        model.Axes.Add(TimeAxis(points));
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
                var x = X(points[i].Key);
                var top = below[i] + points[i].Value.FlopByTier[level] / 1e6;
                area.Points.Add(new DataPoint(x, top));
                area.Points2.Add(new DataPoint(x, below[i]));
                below[i] = top;
            }

            model.Series.Add(area);
        }

        return Svg(model, "compute");
    }

    /// <summary>
    /// Every bucket from the first to the last, an empty one as zero: the timeline keeps only
    /// buckets with something in them, and an area drawn through those alone would join two busy
    /// buckets across an idle stretch as if compute ran there. A chart of more buckets than a
    /// page could show keeps the sparse points.
    /// </summary>
    internal static KeyValuePair<long, ReplayTimeline.Point>[] Contiguous(ReplayTimeline timeline, int tiers)
    {
        var points = timeline.Points.ToArray();
        if (points.Length < 2 || (points[^1].Key - points[0].Key) / timeline.BucketSeconds > 10_000)
        {
            return points;
        }

        var empty = new ReplayTimeline.Point(tiers);
        var byStart = points.ToDictionary(p => p.Key, p => p.Value);
        var all = new List<KeyValuePair<long, ReplayTimeline.Point>>();
        for (var start = points[0].Key; start <= points[^1].Key; start += timeline.BucketSeconds)
        {
            all.Add(KeyValuePair.Create(start, byStart.GetValueOrDefault(start) ?? empty));
        }

        return [.. all];
    }

    /// <summary>Users asked for each step-up so far (cumulative), over time.</summary>
    public static string AskedOverTime(ReplayResult result)
    {
        var model = Model("Users asked for each step-up (cumulative)", "users", counts: true);
        var points = result.Timeline.Points.ToArray();
        model.Axes.Add(TimeAxis(points));
        long asked = 0;
        foreach (var kind in ReportFacts.StepUps)
        {
            var series = new StairStepSeries { Title = Label(kind), Color = TierColour((int)kind - 1), StrokeThickness = 2 };
            long total = 0;
            foreach (var (start, point) in points)
            {
                total += kind switch
                {
                    RequirementKind.StatedPurpose => point.AskedPurpose,
                    RequirementKind.Identity => point.AskedIdentity,
                    _ => point.AskedOrganisation,
                };
                series.Points.Add(new DataPoint(X(start), total));
            }

            asked += total;
            model.Series.Add(series);
        }

        if (asked == 0)
        {
            model.Axes[0].Maximum = 1;
            model.Annotations.Add(Note(NobodyAsked, (model.Axes[1].Minimum + model.Axes[1].Maximum) / 2, 0.5));
        }

        return Svg(model, "asked");
    }

    /// <summary>How long users ran before their first REQUIRE_*, in log-spaced bins; says so when nobody was asked.</summary>
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
            [("users", counts.Select(c => (double)c).ToArray(), TierColour(1))], "first-step-up", counts: true,
            note: facts.TimesToFirstStepUp.Length == 0 ? NobodyAsked : null);
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

    /// <summary>
    /// The sweep's trade-off: share of users asked for a step-up against the share of compute its tier covers.
    /// Points of one step-up that fall on the same spot are labelled once ("x0.3–x10"), and labels are placed
    /// where they overlap neither each other nor another spot's marker.
    /// </summary>
    public static string TradeOff(IReadOnlyList<SweepPoint> points)
    {
        var model = Model("Trade-off: users asked vs compute covered", "share of compute run by users at or above the tier");
        model.Axes[0].Minimum = -0.05; // room for a label beside a point at 0 (or 1) and for the whole of its marker
        model.Axes[0].Maximum = 1.05;
        ((LinearAxis)model.Axes[0]).MajorStep = 0.1;
        model.Axes.Add(new LinearAxis
        {
            Position = AxisPosition.Bottom,
            Title = "share of users asked for the step-up",
            Minimum = -0.03,
            Maximum = 1.03,
            MajorStep = 0.1,
            MajorGridlineStyle = LineStyle.Dot,
            AxisTitleDistance = 6,
        });
        var markers = new[] { MarkerType.Circle, MarkerType.Square, MarkerType.Diamond };
        var drawn = new List<(RequirementKind Kind, LineSeries Series, int[] Points)>();
        foreach (var kind in ReportFacts.StepUps)
        {
            // Later series are drawn over earlier ones: the earlier ones' markers are bigger, so that coinciding markers all show.
            var order = Array.IndexOf(ReportFacts.StepUps, kind);
            var series = new LineSeries
            {
                Title = Label(kind),
                Color = TierColour((int)kind - 1),
                MarkerType = markers[order % markers.Length],
                MarkerSize = 6 - order,
                StrokeThickness = 1.5,
            };
            var indices = Enumerable.Range(0, points.Count).Where(i => points[i].AskedShare.ContainsKey(kind)).OrderBy(i => points[i].AskedShare[kind]).ToArray();
            foreach (var i in indices)
            {
                series.Points.Add(new DataPoint(points[i].AskedShare[kind], points[i].CoveredShare[kind]));
            }

            if (series.Points.Count > 0)
            {
                model.Series.Add(series);
                drawn.Add((kind, series, indices));
            }
        }

        // Lay the chart out once to learn where the points fall on screen, then place the labels.
        Svg(model, "trade-off", TradeOffHeight);
        var xAxis = model.Axes[1];
        var yAxis = model.Axes[0];
        ScreenPoint Screen(DataPoint p) => new(xAxis.Transform(p.X), yAxis.Transform(p.Y));

        // A spot: points closer than a marker's width on screen. Each step-up at a spot gets one label naming its points.
        const double SameSpot = 4;
        var spots = new List<(ScreenPoint Screen, DataPoint Data, List<(RequirementKind Kind, SortedSet<int> Points)> Groups)>();
        foreach (var (kind, series, indices) in drawn)
        {
            for (var j = 0; j < indices.Length; j++)
            {
                var data = series.Points[j];
                var screen = Screen(data);
                var spot = spots.FindIndex(s => (s.Screen - screen).Length <= SameSpot);
                if (spot < 0)
                {
                    spots.Add((screen, data, []));
                    spot = spots.Count - 1;
                }

                var groups = spots[spot].Groups;
                var group = groups.FindIndex(g => g.Kind == kind);
                if (group < 0)
                {
                    groups.Add((kind, []));
                    group = groups.Count - 1;
                }

                groups[group].Points.Add(indices[j]);
            }
        }

        var labels = points.Select(p => p.Label).ToArray();
        const double LabelFont = 10;
        var measurer = new TextMeasurer();
        var area = model.PlotArea;
        var placed = new List<OxyRect>();
        foreach (var (screen, data, groups) in spots)
        {
            // Step-ups at the spot with the very same points share one label, in black.
            foreach (var same in groups.GroupBy(g => PointNames(labels, g.Points)))
            {
                var text = same.Key;
                var colour = same.Count() == 1 ? TierColour((int)same.First().Kind - 1) : OxyColors.Black;
                var size = measurer.MeasureText(text, model.DefaultFont, LabelFont, 400);
                var others = spots.Where(s => !s.Screen.Equals(screen)).Select(s => s.Screen).ToArray();
                var box = PlaceLabel(screen, size, area, placed, others);
                placed.Add(box);
                model.Annotations.Add(new TextAnnotation
                {
                    Text = text,
                    TextPosition = data,
                    Offset = new ScreenVector(box.Left - screen.X, box.Top - screen.Y),
                    Stroke = OxyColors.Transparent,
                    TextColor = colour,
                    FontSize = LabelFont,
                    Padding = new OxyThickness(0),
                    TextHorizontalAlignment = HorizontalAlignment.Left,
                    TextVerticalAlignment = VerticalAlignment.Top,
                });
            }
        }

        return Svg(model, "trade-off", TradeOffHeight);
    }

    /// <summary>Horizontal bars by category; several series side by side, or stacked. Counts get whole-number ticks; a note is written across the plot.</summary>
    public static string Bars(string title, string valueTitle, string[] categories, (string Title, double[] Values, OxyColor Colour)[] series, string id,
        bool stacked = false, bool counts = false, string? note = null)
    {
        var model = new PlotModel { Title = title, TitleFontSize = 14, DefaultFont = "sans-serif", Culture = CultureInfo.InvariantCulture };
        model.Legends.Add(LegendBelow());
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Left, ItemsSource = categories, StartPosition = 1, EndPosition = 0, GapWidth = 0.3 });
        var values = new LinearAxis { Position = AxisPosition.Bottom, Title = valueTitle, Minimum = 0, MajorGridlineStyle = LineStyle.Dot, MaximumPadding = 0.1 };
        if (counts)
        {
            WholeNumbers(values);
        }

        if (series.All(s => s.Values.All(v => v == 0)))
        {
            values.Maximum = 1; // not OxyPlot's fractional default range around nothing
        }

        model.Axes.Add(values);
        foreach (var (name, data, colour) in series)
        {
            var bars = new BarSeries { Title = series.Length > 1 ? name : null, FillColor = colour, IsStacked = stacked, StrokeThickness = 0 };
            bars.Items.AddRange(data.Select(v => new BarItem(v)));
            model.Series.Add(bars);
        }

        if (note is not null)
        {
            model.Annotations.Add(Note(note, double.IsNaN(values.Maximum) ? 0.5 : values.Maximum / 2, (categories.Length - 1) / 2.0));
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

    /// <summary>
    /// The sweep points' labels, in sweep order, with runs of three or more consecutive points
    /// written as one range: "x0.3–x10", "x0.001, x0.003", "x0.001–x0.03, x1".
    /// </summary>
    internal static string PointNames(IReadOnlyList<string> labels, IEnumerable<int> indices)
    {
        var sorted = indices.Distinct().Order().ToArray();
        var parts = new List<string>();
        for (var i = 0; i < sorted.Length;)
        {
            var end = i;
            while (end + 1 < sorted.Length && sorted[end + 1] == sorted[end] + 1)
            {
                end++;
            }

            if (end - i >= 2)
            {
                parts.Add(labels[sorted[i]] + "–" + labels[sorted[end]]);
            }
            else
            {
                parts.AddRange(sorted[i..(end + 1)].Select(k => labels[k]));
            }

            i = end + 1;
        }

        return string.Join(", ", parts);
    }

    private static double X(long unixSeconds) => DateTimeAxis.ToDouble(DateTimeOffset.FromUnixTimeSeconds(unixSeconds).UtcDateTime);

    private static PlotModel Model(string title, string yTitle, bool counts = false)
    {
        var model = new PlotModel { Title = title, TitleFontSize = 14, DefaultFont = "sans-serif", Culture = CultureInfo.InvariantCulture };
        model.Legends.Add(LegendBelow());
        var y = new LinearAxis { Position = AxisPosition.Left, Title = yTitle, Minimum = 0, MajorGridlineStyle = LineStyle.Dot, MaximumPadding = 0.08, AxisTitleDistance = 10 };
        if (counts)
        {
            WholeNumbers(y);
        }

        model.Axes.Add(y);
        return model;
    }

    /// <summary>The legend in a row (wrapped if need be) below the plot, where it covers no data and is not cut off at the right.</summary>
    private static Legend LegendBelow() => new()
    {
        LegendPlacement = LegendPlacement.Outside,
        LegendPosition = LegendPosition.BottomCenter,
        LegendOrientation = LegendOrientation.Horizontal,
        LegendItemSpacing = 18,
        LegendPadding = 4,
        LegendMargin = 4,
    };

    /// <summary>An axis of counts: ticks at whole numbers only.</summary>
    private static void WholeNumbers(LinearAxis axis)
    {
        axis.MinimumMajorStep = 1;
        axis.MinimumMinorStep = 1;
        axis.StringFormat = "0";
    }

    /// <summary>A sentence across the middle of the plot, e.g. that there is nothing to show.</summary>
    private static TextAnnotation Note(string text, double x, double y) => new()
    {
        Text = text,
        TextPosition = new DataPoint(x, y),
        FontSize = 16,
        FontWeight = FontWeights.Bold,
        TextColor = OxyColor.FromRgb(0x55, 0x55, 0x55),
        Background = OxyColor.FromAColor(220, OxyColors.White),
        Stroke = OxyColors.Transparent,
        TextHorizontalAlignment = HorizontalAlignment.Center,
        TextVerticalAlignment = VerticalAlignment.Middle,
    };

    /// <summary>
    /// Where a label's box goes beside a point: the first spot to the right, left, above or below (then
    /// further out) that lies inside the plot and overlaps neither a label already placed nor another point.
    /// </summary>
    private static OxyRect PlaceLabel(ScreenPoint at, OxySize size, OxyRect area, List<OxyRect> placed, ScreenPoint[] otherPoints)
    {
        const double Gap = 7;
        var (w, h) = (size.Width, size.Height);
        // A column of places to the right of the point (centred, then one line up, one down, ...), the same to
        // the left, and just above and below it: labels of one spot stack up beside it.
        var candidates = new List<ScreenVector>();
        for (var k = 0; k <= 8; k++)
        {
            double[] rows = k == 0 ? [-h / 2] : [-h / 2 - k * (h + 1), -h / 2 + k * (h + 1)];
            candidates.AddRange(rows.Select(dy => new ScreenVector(Gap, dy)));
            candidates.AddRange(rows.Select(dy => new ScreenVector(-Gap - w, dy)));
            if (k == 1)
            {
                candidates.Add(new ScreenVector(-w / 2, -h - Gap));
                candidates.Add(new ScreenVector(-w / 2, Gap));
            }
        }

        var inside = new OxyRect(area.Left + 2, area.Top + 2, Math.Max(0, area.Width - 4), Math.Max(0, area.Height - 4));
        OxyRect? fallback = null;
        foreach (var offset in candidates)
        {
            var box = new OxyRect(at.X + offset.X, at.Y + offset.Y, w, h);
            if (!inside.Contains(box.TopLeft) || !inside.Contains(box.BottomRight))
            {
                continue;
            }

            fallback ??= box;
            if (placed.All(p => !Overlap(p, box)) && otherPoints.All(p => !box.Inflate(5, 5).Contains(p)))
            {
                return box;
            }
        }

        return fallback ?? new OxyRect(Math.Clamp(at.X + Gap, inside.Left, Math.Max(inside.Left, inside.Right - w)), Math.Clamp(at.Y - h / 2, inside.Top, Math.Max(inside.Top, inside.Bottom - h)), w, h);
    }

    private static bool Overlap(OxyRect a, OxyRect b) => a.Left < b.Right && b.Left < a.Right && a.Top < b.Bottom && b.Top < a.Bottom;

    /// <summary>
    /// A time axis (UTC) over the timeline's buckets with labels that do not overlap: the finest of
    /// second / minute / hour / day / week / month / year steps whose labels, measured, fit side by side
    /// with room between them, in a short form ("14:00", "Nov 16", "Mar", "2025"); what the labels leave
    /// out (the date, the year) is in the axis title.
    /// </summary>
    private static LinearAxis TimeAxis(KeyValuePair<long, ReplayTimeline.Point>[] points)
    {
        var first = points.Length > 0 ? points[0].Key : 0;
        var last = points.Length > 0 ? points[^1].Key : 0;
        var (ticks, labels, title) = TimeTicks(first, Math.Max(last, first + 60), new TextMeasurer());
        return new TickedAxis(ticks.Select(X).ToArray(), labels)
        {
            Position = AxisPosition.Bottom,
            Minimum = X(first),
            Maximum = X(Math.Max(last, first + 60)),
            MajorGridlineStyle = LineStyle.Dot,
            Title = title,
            AxisTitleDistance = 6,
        };
    }

    /// <summary>The plot's width on the time charts, a little less than OxyPlot leaves it (so that labels chosen to fit do fit).</summary>
    private const double TimePlotWidth = Width - 120;

    private enum TimeUnit
    {
        Second,
        Minute,
        Hour,
        Day,
        Week,
        Month,
        Year,
    }

    private static readonly (TimeUnit Unit, int Count)[] TimeSteps =
    [
        (TimeUnit.Second, 1), (TimeUnit.Second, 2), (TimeUnit.Second, 5), (TimeUnit.Second, 10), (TimeUnit.Second, 15), (TimeUnit.Second, 30),
        (TimeUnit.Minute, 1), (TimeUnit.Minute, 2), (TimeUnit.Minute, 5), (TimeUnit.Minute, 10), (TimeUnit.Minute, 15), (TimeUnit.Minute, 30),
        (TimeUnit.Hour, 1), (TimeUnit.Hour, 2), (TimeUnit.Hour, 3), (TimeUnit.Hour, 6), (TimeUnit.Hour, 12),
        (TimeUnit.Day, 1), (TimeUnit.Day, 2), (TimeUnit.Week, 1), (TimeUnit.Week, 2),
        (TimeUnit.Month, 1), (TimeUnit.Month, 2), (TimeUnit.Month, 3), (TimeUnit.Month, 6),
        (TimeUnit.Year, 1), (TimeUnit.Year, 2), (TimeUnit.Year, 5), (TimeUnit.Year, 10), (TimeUnit.Year, 20), (TimeUnit.Year, 50), (TimeUnit.Year, 100),
    ];

    /// <summary>Tick times (Unix seconds), their labels and the axis title for a span.</summary>
    private static (long[] Ticks, string[] Labels, string Title) TimeTicks(long first, long last, IRenderContext measurer)
    {
        var from = DateTimeOffset.FromUnixTimeSeconds(first).UtcDateTime;
        var to = DateTimeOffset.FromUnixTimeSeconds(last).UtcDateTime;
        var oneDay = from.Date == to.Date;
        var title = oneDay ? $"UTC, {from.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}" : from.Year == to.Year ? $"UTC, {from.Year}" : $"UTC, {from.Year}–{to.Year}";
        (long[], string[]) best = ([], []);
        foreach (var (unit, count) in TimeSteps)
        {
            if ((last - first) / ApproximateSeconds(unit, count) > TimePlotWidth / 20)
            {
                continue; // more labels than could fit even if each were 20 px wide (and a decade in seconds would not fit in memory)
            }

            var ticks = Ticks(from, to, unit, count);
            var labels = ticks.Select(t => TimeLabel(t, unit, oneDay)).ToArray();
            var seconds = ticks.Select(t => new DateTimeOffset(t, TimeSpan.Zero).ToUnixTimeSeconds()).ToArray();
            best = (seconds, labels);
            if (Fits(seconds, labels, first, last, measurer))
            {
                break;
            }
        }

        return (best.Item1, best.Item2, title);
    }

    private static long ApproximateSeconds(TimeUnit unit, int count) => count * unit switch
    {
        TimeUnit.Second => 1L,
        TimeUnit.Minute => 60L,
        TimeUnit.Hour => 3600L,
        TimeUnit.Day => 86400L,
        TimeUnit.Week => 7 * 86400L,
        TimeUnit.Month => 28 * 86400L,
        _ => 365 * 86400L,
    };

    /// <summary>Whether neighbouring labels, centred on their ticks, keep at least 16 px apart.</summary>
    private static bool Fits(long[] ticks, string[] labels, long first, long last, IRenderContext measurer)
    {
        var perSecond = TimePlotWidth / (last - first);
        var widths = labels.Select(l => measurer.MeasureText(l, "sans-serif", 12, 400).Width).ToArray();
        for (var i = 1; i < ticks.Length; i++)
        {
            if ((ticks[i] - ticks[i - 1]) * perSecond < (widths[i] + widths[i - 1]) / 2 + 16)
            {
                return false;
            }
        }

        return true;
    }

    private static List<DateTime> Ticks(DateTime from, DateTime to, TimeUnit unit, int count)
    {
        var ticks = new List<DateTime>();
        DateTime t;
        switch (unit)
        {
            case TimeUnit.Second or TimeUnit.Minute or TimeUnit.Hour or TimeUnit.Day:
                var step = count * unit switch { TimeUnit.Second => 1L, TimeUnit.Minute => 60L, TimeUnit.Hour => 3600L, _ => 86400L };
                var start = new DateTimeOffset(from, TimeSpan.Zero).ToUnixTimeSeconds();
                var rem = ((start % step) + step) % step;
                var first = rem == 0 ? start : start + step - rem; // the first multiple of step at or after the start
                for (var s = first; s <= new DateTimeOffset(to, TimeSpan.Zero).ToUnixTimeSeconds(); s += step)
                {
                    ticks.Add(DateTimeOffset.FromUnixTimeSeconds(s).UtcDateTime);
                }

                return ticks;
            case TimeUnit.Week:
                t = from.Date.AddDays(((int)DayOfWeek.Monday - (int)from.DayOfWeek + 7) % 7); // Mondays
                if (t < from)
                {
                    t = t.AddDays(7);
                }

                for (; t <= to; t = t.AddDays(7 * count))
                {
                    ticks.Add(t);
                }

                return ticks;
            case TimeUnit.Month:
                t = new DateTime(from.Year, from.Month, 1, 0, 0, 0, DateTimeKind.Utc);
                for (; t <= to; t = t.AddMonths(1))
                {
                    if (t >= from && (t.Month - 1) % count == 0)
                    {
                        ticks.Add(t);
                    }
                }

                return ticks;
            default:
                for (var year = from.Year; year <= to.Year; year++)
                {
                    t = new DateTime(year, 1, 1, 0, 0, 0, DateTimeKind.Utc);
                    if (t >= from && t <= to && year % count == 0)
                    {
                        ticks.Add(t);
                    }
                }

                return ticks;
        }
    }

    /// <summary>
    /// A tick's label: the time of day within a day, the date at midnight, the month within a year,
    /// the year at its start (what a label leaves out is in the axis title).
    /// </summary>
    private static string TimeLabel(DateTime t, TimeUnit unit, bool oneDay)
    {
        var midnight = t.TimeOfDay == TimeSpan.Zero;
        var newYear = midnight && t.Month == 1 && t.Day == 1;
        var format = unit switch
        {
            TimeUnit.Year => "yyyy",
            _ when newYear && !oneDay => "yyyy",
            TimeUnit.Month => "MMM",
            TimeUnit.Day or TimeUnit.Week => "MMM d",
            _ when midnight && !oneDay => "MMM d",
            TimeUnit.Second => "HH:mm:ss",
            _ => "HH:mm",
        };
        return t.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>The SVG of a chart, its element ids prefixed so several charts can share one page.</summary>
    private static string Svg(PlotModel model, string id, int height = Height)
    {
        // Text is measured as it will be drawn (see TextMeasurer), so that OxyPlot leaves room for it.
        // The workaround places text without dominant-baseline, which some SVG renderers ignore.
        var svg = SvgExporter.ExportToString(model, Width, height, isDocument: false, new TextMeasurer(), useVerticalTextAlignmentWorkaround: true);
        // Only the ids: the element's own name (<clipPath>) must stay, or no renderer clips.
        return svg.Replace("id=\"clipPath", $"id=\"{id}-clip", StringComparison.Ordinal).Replace("url(#clipPath", $"url(#{id}-clip", StringComparison.Ordinal);
    }

    /// <summary>
    /// Measures text as a browser draws the SVG's sans-serif: OxyPlot's PDF metrics (Helvetica, in points)
    /// in pixels, 20% wider for the wider common fonts (DejaVu Sans), with an em for each character those
    /// metrics lack (they count "–" and "…" as nothing).
    /// </summary>
    internal sealed class TextMeasurer() : PdfRenderContext(Width, Height, OxyColors.White)
    {
        public override OxySize MeasureText(string text, string fontFamily, double fontSize, double fontWeight)
        {
            if (string.IsNullOrEmpty(text))
            {
                return OxySize.Empty;
            }

            var size = base.MeasureText(text, fontFamily, fontSize, fontWeight);
            var missing = text.Count(c => c > '\u00ff') * fontSize * 0.75;
            return new OxySize((size.Width + missing) / 0.75 * 1.2, size.Height / 0.75 * 1.05);
        }
    }

    /// <summary>A linear axis with the ticks and labels given.</summary>
    private sealed class TickedAxis : LinearAxis
    {
        private readonly double[] _ticks;

        public TickedAxis(double[] ticks, string[] labels)
        {
            _ticks = ticks;
            var byTick = ticks.Zip(labels).ToDictionary(p => p.First, p => p.Second);
            LabelFormatter = x => byTick.TryGetValue(x, out var label) ? label : "";
        }

        public override void GetTickValues(out IList<double> majorLabelValues, out IList<double> majorTickValues, out IList<double> minorTickValues)
        {
            majorLabelValues = _ticks;
            majorTickValues = _ticks;
            minorTickValues = _ticks;
        }
    }
}
