using YamlDotNet.RepresentationModel;

namespace Oversight.Deployment.Tests;

public sealed class ChartTests
{
    public static TheoryData<string> ValueFiles => ["", "ci/production-values.yaml", "ci/redis-cluster-values.yaml", "../../deploy/production-values.yaml"];

    [Fact]
    public void Chart_has_at_least_two_ci_override_files()
    {
        Assert.True(Directory.GetFiles(Repo.Path("charts", "oversight", "ci"), "*.yaml").Length >= 2);
    }

    [Theory]
    [MemberData(nameof(ValueFiles))]
    public void Helm_lint_passes(string values) =>
        Repo.HelmRun([.. new[] { "lint", "--strict", "charts/oversight" }, .. ValuesArgs(values)]);

    [Theory]
    [MemberData(nameof(ValueFiles))]
    public void Every_rendered_object_is_valid_against_the_Kubernetes_schemas(string values)
    {
        Repo.RequireNodeModules();
        var rendered = Render(values);
        var (code, stdout, stderr) = Repo.Run(Repo.Node, [Repo.Path("deploy", "ci", "validate.mjs")], stdin: rendered);
        Assert.True(code == 0, $"validate.mjs ({code}):\n{stdout}\n{stderr}");
        Assert.Contains(", 0 invalid", stdout);
    }

    [Theory]
    [MemberData(nameof(ValueFiles))]
    public void Every_configuration_key_the_chart_sets_exists_in_the_options(string values)
    {
        var keys = new List<string>();
        var deployments = 0;
        foreach (var doc in Documents(Render(values)))
        {
            var kind = ((YamlScalarNode)doc["kind"]).Value;
            if (kind == "ConfigMap")
            {
                keys.AddRange(((YamlMappingNode)doc["data"]).Children.Keys.Select(k => ((YamlScalarNode)k).Value!));
            }
            else if (kind is "Deployment" or "Job")
            {
                deployments++;
                var pod = (YamlMappingNode)((YamlMappingNode)((YamlMappingNode)doc["spec"])["template"])["spec"];
                foreach (YamlMappingNode container in (YamlSequenceNode)pod["containers"])
                {
                    if (container.Children.TryGetValue("env", out var env))
                    {
                        keys.AddRange(((YamlSequenceNode)env).Select(e => ((YamlScalarNode)((YamlMappingNode)e)["name"]).Value!));
                    }
                }
            }
        }

        Assert.True(deployments >= 3);
        var oversightKeys = keys.Where(k => k.StartsWith("Oversight__", StringComparison.Ordinal)).Distinct().ToList();
        Assert.True(oversightKeys.Count > 25, $"only {oversightKeys.Count} keys");
        var failures = oversightKeys.Select(k => ConfigurationKeys.Check(ConfigurationKeys.FromEnvironmentName(k))).OfType<string>().ToList();
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public void Pods_are_locked_down_and_migrations_run_in_a_hook_job()
    {
        var docs = Documents(Render("")).ToList();
        foreach (var doc in docs.Where(d => ((YamlScalarNode)d["kind"]).Value is "Deployment" or "Job"))
        {
            var text = Serialize(doc);
            Assert.Contains("readOnlyRootFilesystem: true", text);
            Assert.Contains("runAsNonRoot: true", text);
            Assert.Contains("- ALL", text);
            Assert.Contains("type: RuntimeDefault", text);
            Assert.Contains("allowPrivilegeEscalation: false", text);
            if (((YamlScalarNode)doc["kind"]).Value == "Deployment")
            {
                Assert.Contains("grpc:", text);
                Assert.Contains("limits:", text);
            }
            else
            {
                Assert.Contains("pre-install,pre-upgrade", text);
            }
        }

        var configMaps = docs.Where(d => ((YamlScalarNode)d["kind"]).Value == "ConfigMap").Select(Serialize).ToList();
        Assert.Equal(3, configMaps.Count);
        Assert.All(configMaps, c => Assert.Contains("Database__MigrateOnStart: \"false\"", c));
    }

    [Fact]
    public void Each_migration_job_runs_its_service_image_with_migrate_before_every_install_and_upgrade()
    {
        var docs = Documents(Render("")).ToList();
        var jobs = docs.Where(d => Kind(d) == "Job").ToList();
        Assert.Equal(["oversight-attestation-migrate", "oversight-enforcement-migrate", "oversight-kyc-migrate"], jobs.Select(Name).Order().ToArray());
        foreach (var job in jobs)
        {
            var service = Name(job)["oversight-".Length..^"-migrate".Length];
            var section = char.ToUpperInvariant(service[0]) + service[1..];
            var annotations = (YamlMappingNode)((YamlMappingNode)job["metadata"])["annotations"];
            Assert.Equal("pre-install,pre-upgrade", Scalar(annotations, "helm.sh/hook"));
            // Deleted before the next run's Job is created, so the hook runs on every upgrade.
            Assert.Contains("before-hook-creation", Scalar(annotations, "helm.sh/hook-delete-policy"));

            var container = Container(job);
            var deployment = docs.Single(d => Kind(d) == "Deployment" && Name(d) == $"oversight-{service}");
            Assert.Equal(Scalar(Container(deployment), "image"), Scalar(container, "image"));
            Assert.False(container.Children.ContainsKey("command"), "the Job must run the image's ENTRYPOINT (the host)");
            Assert.Equal(["migrate"], ((YamlSequenceNode)container["args"]).Select(a => ((YamlScalarNode)a).Value!).ToArray());
            var env = ((YamlSequenceNode)container["env"]).Cast<YamlMappingNode>().ToDictionary(e => Scalar(e, "name"));
            Assert.Equal("Postgres", Scalar(env[$"Oversight__{section}__Database__Provider"], "value"));
            Assert.Contains("Password=$(POSTGRES_PASSWORD)", Scalar(env[$"Oversight__{section}__Database__ConnectionString"], "value"));
        }
    }

    [Fact]
    public void Without_migration_jobs_the_services_migrate_on_start()
    {
        var docs = Documents(Repo.HelmRun("template", "oversight", "charts/oversight", "--namespace", "oversight", "--set", "migrations.enabled=false")).ToList();
        Assert.DoesNotContain(docs, d => Kind(d) == "Job");
        var configMaps = docs.Where(d => Kind(d) == "ConfigMap").Select(Serialize).ToList();
        Assert.Equal(3, configMaps.Count);
        Assert.All(configMaps, c => Assert.Contains("Database__MigrateOnStart: \"true\"", c));
    }

    private static string Kind(YamlMappingNode doc) => Scalar(doc, "kind");

    private static string Name(YamlMappingNode doc) => Scalar((YamlMappingNode)doc["metadata"], "name");

    private static string Scalar(YamlMappingNode node, string key) => ((YamlScalarNode)node[key]).Value!;

    private static YamlMappingNode Container(YamlMappingNode workload)
    {
        var pod = (YamlMappingNode)((YamlMappingNode)((YamlMappingNode)workload["spec"])["template"])["spec"];
        return (YamlMappingNode)((YamlSequenceNode)pod["containers"]).Single();
    }

    internal static string Render(string values) =>
        Repo.HelmRun([.. new[] { "template", "oversight", "charts/oversight", "--namespace", "oversight" }, .. ValuesArgs(values)]);

    private static string[] ValuesArgs(string values) => values == "" ? [] : ["-f", "charts/oversight/" + values];

    internal static IEnumerable<YamlMappingNode> Documents(string rendered)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(rendered));
        return stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>().Where(n => n.Children.Count > 0);
    }

    private static string Serialize(YamlMappingNode node)
    {
        var writer = new StringWriter();
        new YamlStream(new YamlDocument(node)).Save(writer, assignAnchors: false);
        return writer.ToString();
    }
}
