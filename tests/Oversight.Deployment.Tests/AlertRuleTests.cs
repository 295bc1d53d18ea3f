using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Oversight.Deployment.Tests;

/// <summary>
/// The alerting rules (charts/oversight/files/prometheus-rules.yaml): valid for Prometheus, each
/// alert firing when it should and quiet when it should not (promtool's unit tests), shipped by the
/// chart unchanged, with a runbook section each, and about metrics the services really export.
/// </summary>
public sealed partial class AlertRuleTests
{
    private static readonly string RulesFile = Repo.Path("charts", "oversight", "files", "prometheus-rules.yaml");

    [Fact]
    public void Promtool_accepts_the_rules()
    {
        var (code, stdout, stderr) = Repo.Run(Repo.Promtool, ["check", "rules", RulesFile]);
        Assert.True(code == 0, $"promtool check rules ({code}):\n{stdout}\n{stderr}");
        Assert.Contains($"SUCCESS: {Alerts().Count} rules found", stdout);
    }

    [Fact]
    public void Each_alert_fires_on_its_unit_tests_series_and_not_on_the_others()
    {
        var (code, stdout, stderr) = Repo.Run(Repo.Promtool, ["test", "rules", Repo.Path("deploy", "ci", "prometheus-rules.test.yaml")]);
        Assert.True(code == 0, $"promtool test rules ({code}):\n{stdout}\n{stderr}");
        Assert.Contains("SUCCESS", stdout);
    }

    [Fact]
    public void Each_alert_has_unit_tests_and_a_runbook_section()
    {
        var tests = File.ReadAllText(Repo.Path("deploy", "ci", "prometheus-rules.test.yaml"));
        var headings = File.ReadAllLines(Repo.Path("deploy", "runbook.md")).Where(l => l.StartsWith('#')).ToList();
        Assert.All(Alerts(), alert =>
        {
            Assert.Contains($"alertname: {alert}", tests);
            Assert.Contains(headings, h => h.Contains($"`{alert}`", StringComparison.Ordinal));
        });
    }

    [Fact]
    public void The_chart_ships_the_rules_file_unchanged_as_a_PrometheusRule_only_when_enabled()
    {
        Assert.DoesNotContain(ChartTests.Documents(ChartTests.Render("")), d => Kind(d) == "PrometheusRule");

        var rule = ChartTests.Documents(ChartTests.Render("ci/production-values.yaml")).Single(d => Kind(d) == "PrometheusRule");
        var labels = (YamlMappingNode)((YamlMappingNode)rule["metadata"])["labels"];
        Assert.Equal("kube-prometheus-stack", ((YamlScalarNode)labels["release"]).Value);

        var file = new YamlStream();
        file.Load(new StringReader(File.ReadAllText(RulesFile)));
        Assert.Equal(Canonical(file.Documents[0].RootNode), Canonical(rule["spec"]));
    }

    [Fact]
    public void Every_metric_the_alerts_the_dashboard_and_the_chart_README_name_is_one_the_services_export()
    {
        var exported = ExportedMetricNames();
        Assert.Contains("oversight_outbox_oldest_waiting_age_seconds", exported); // the naming rules below hold
        Assert.Contains("grpc_server_call_duration_seconds_count", exported);
        foreach (var file in new[] { RulesFile, Repo.Path("deploy", "grafana-dashboard.json"), Repo.Path("charts", "oversight", "README.md") })
        {
            var named = MetricName().Matches(File.ReadAllText(file)).Select(m => m.Value).ToHashSet();
            Assert.NotEmpty(named);
            var unknown = named.Where(n => !exported.Contains(n)).ToList();
            Assert.True(unknown.Count == 0, $"{Path.GetFileName(file)} names metrics no service exports: {string.Join(", ", unknown)}");
        }
    }

    /// <summary>
    /// The Prometheus names of every instrument the services create, as OpenTelemetry's Prometheus
    /// exporter writes them: dots become underscores, the unit is appended (ms, s), counters end in
    /// _total, histograms are read as _bucket, _sum and _count.
    /// </summary>
    private static HashSet<string> ExportedMetricNames()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var sources = Directory.EnumerateFiles(Repo.Path("services"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
        foreach (var source in sources)
        {
            foreach (Match m in Instrument().Matches(File.ReadAllText(source)))
            {
                var unit = Unit().Match(m.Groups["args"].Value).Groups[1].Value switch { "ms" => "_milliseconds", "s" => "_seconds", "" => "", var other => throw new InvalidOperationException($"unit {other} of {m.Groups["name"].Value}: add its Prometheus suffix here") };
                var name = m.Groups["name"].Value.Replace('.', '_') + unit;
                switch (m.Groups["kind"].Value)
                {
                    case "Counter" or "ObservableCounter":
                        names.Add(name + "_total");
                        break;
                    case "Histogram":
                        names.UnionWith([name, name + "_bucket", name + "_sum", name + "_count"]);
                        break;
                    default:
                        names.Add(name);
                        break;
                }
            }
        }

        Assert.True(names.Count >= 12, $"only {names.Count} instruments found in services/: {string.Join(", ", names)}");
        return names;
    }

    private static List<string> Alerts() =>
        [.. File.ReadAllLines(RulesFile).Select(l => AlertLine().Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value)];

    private static string Kind(YamlMappingNode doc) => ((YamlScalarNode)doc["kind"]).Value!;

    /// <summary>A YAML node as text independent of its layout (block or flow, quoting, comments).</summary>
    private static string Canonical(YamlNode node) => node switch
    {
        YamlMappingNode map => "{" + string.Join(",", map.Children.Select(c => Canonical(c.Key) + ":" + Canonical(c.Value))) + "}",
        YamlSequenceNode seq => "[" + string.Join(",", seq.Children.Select(Canonical)) + "]",
        YamlScalarNode scalar => "'" + scalar.Value + "'",
        _ => throw new InvalidOperationException($"unexpected node {node.NodeType}"),
    };

    [GeneratedRegex(@"^\s*- alert: (\w+)\s*$")]
    private static partial Regex AlertLine();

    [GeneratedRegex(@"\b(oversight|grpc_server)_[a-z0-9_]*[a-z0-9]")]
    private static partial Regex MetricName();

    // An instrument's creation, up to the end of its statement (its arguments hold no ';').
    [GeneratedRegex("""Create(?<kind>Counter|Histogram|UpDownCounter|Gauge|ObservableGauge|ObservableCounter|ObservableUpDownCounter)(<\w+>)?\(\s*"(?<name>(oversight|grpc\.server)\.[a-z0-9._]+)"(?<args>[^;]*);""")]
    private static partial Regex Instrument();

    [GeneratedRegex(@"\bunit:\s*""(\w+)""")]
    private static partial Regex Unit();
}
