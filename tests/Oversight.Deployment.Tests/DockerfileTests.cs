using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Oversight.Deployment.Tests;

public sealed partial class DockerfileTests
{
    private static readonly string[] Lines = JoinContinuations(File.ReadAllLines(Repo.Path("Dockerfile")));

    [Fact]
    public void Every_COPY_source_from_the_build_context_exists()
    {
        var copies = Lines.Where(l => l.TrimStart().StartsWith("COPY ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(copies);
        var checkedSources = 0;
        foreach (var copy in copies)
        {
            var words = copy.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
            if (words.Any(w => w.StartsWith("--from=", StringComparison.Ordinal)))
            {
                continue; // copies from another stage
            }

            var paths = words.Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToList();
            foreach (var source in paths.SkipLast(1))
            {
                var full = Repo.Path(source.TrimEnd('/'));
                Assert.True(File.Exists(full) || Directory.Exists(full), $"Dockerfile copies '{source}', which does not exist");
                checkedSources++;
            }
        }

        Assert.True(checkedSources >= 3);
    }

    [Fact]
    public void Each_SERVICE_maps_to_a_host_project_whose_assembly_the_ENTRYPOINT_runs()
    {
        var text = string.Join('\n', Lines);
        var cases = ServiceCase().Matches(text);
        Assert.Equal(["kyc", "attestation", "enforcement", "allinone"], cases.Select(m => m.Groups["service"].Value).ToArray());
        foreach (Match m in cases)
        {
            var project = Repo.Path(m.Groups["project"].Value);
            Assert.True(File.Exists(project), $"SERVICE={m.Groups["service"].Value}: {project} does not exist");
            var xml = XDocument.Load(project);
            Assert.Equal("Microsoft.NET.Sdk.Web", xml.Root!.Attribute("Sdk")?.Value);
            var assemblyName = xml.Descendants("AssemblyName").Select(e => e.Value).FirstOrDefault()
                               ?? Path.GetFileNameWithoutExtension(project);
            Assert.Equal(assemblyName, m.Groups["assembly"].Value);
            Assert.True(File.ReadAllText(project).Contains("Sdk.Web", StringComparison.Ordinal));
        }

        // The build stage links /app/oversight-service to the apphost named after $assembly and
        // checks that $assembly.dll was published; ENTRYPOINT runs that link.
        Assert.Contains("ln -s \"/app/$assembly\" /app/oversight-service", text);
        Assert.Contains("test -f \"/app/$assembly.dll\"", text);
        Assert.Contains("-p:UseAppHost=true", text);
        var entrypoint = Lines.Single(l => l.StartsWith("ENTRYPOINT", StringComparison.Ordinal));
        Assert.Equal("ENTRYPOINT [\"/app/oversight-service\"]", entrypoint.Trim());
    }

    [Fact]
    public void Image_migrates_with_its_own_host_and_builds_no_migration_bundle()
    {
        // The chart's migration Job runs the service image with the argument `migrate`: the host
        // itself applies the migrations (MigrateCommand), so the image needs its migrations
        // assemblies and no EF Core bundle or dotnet-ef tool.
        var text = string.Join('\n', Lines);
        Assert.DoesNotContain("migrations bundle", text);
        Assert.DoesNotContain("/app/migrate", text);
        Assert.DoesNotContain("dotnet tool", text);
        Assert.DoesNotContain("dotnet-tools.json", text);
        Assert.Contains("ls /app/*.Migrations.Postgres.dll /app/*.Migrations.Sqlite.dll", text);
        foreach (Match m in ServiceCase().Matches(text))
        {
            var project = Repo.Path(m.Groups["project"].Value);
            var references = XDocument.Load(project).Descendants("ProjectReference").Select(r => r.Attribute("Include")!.Value).ToList();
            var services = references.Where(r => r.EndsWith("Oversight.Kyc.csproj", StringComparison.Ordinal) || r.EndsWith("Oversight.Attestation.csproj", StringComparison.Ordinal) || r.EndsWith("Oversight.Enforcement.csproj", StringComparison.Ordinal))
                .Select(r => Path.GetFileNameWithoutExtension(r)).ToList();
            Assert.NotEmpty(services);
            foreach (var service in services)
            {
                Assert.Contains(references, r => r.EndsWith($"{service}.Migrations.Postgres.csproj", StringComparison.Ordinal));
                Assert.Contains(references, r => r.EndsWith($"{service}.Migrations.Sqlite.csproj", StringComparison.Ordinal));
            }

            var program = File.ReadAllText(Path.Combine(Path.GetDirectoryName(project)!, "Program.cs"));
            Assert.Contains("if (args is [MigrateCommand.Name, ..])", program);
            Assert.Contains("MigrateCommand.RunAsync(args[1..]", program);
        }
    }

    [Fact]
    public void Runtime_stage_is_non_root_with_OCI_labels()
    {
        var runtime = Lines.SkipWhile(l => !l.StartsWith("FROM mcr.microsoft.com/dotnet/aspnet:", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(runtime);
        Assert.Contains(runtime, l => l.Trim() == "USER 10001:10001");
        var labels = string.Join('\n', runtime.Where(l => l.StartsWith("LABEL", StringComparison.Ordinal)));
        foreach (var label in new[] { "title", "version", "revision", "source", "created" })
        {
            Assert.Contains($"org.opencontainers.image.{label}=", labels);
        }

        Assert.Contains("FROM mcr.microsoft.com/dotnet/sdk:", string.Join('\n', Lines));
    }

    private static string[] JoinContinuations(string[] raw)
    {
        var result = new List<string>();
        var current = "";
        foreach (var line in raw)
        {
            if (line.TrimStart().StartsWith('#') && current.Length == 0)
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                current += line[..^1] + "\n";
                continue;
            }

            result.Add(current + line);
            current = "";
        }

        return [.. result];
    }

    [GeneratedRegex(@"(?<service>[a-z]+)\)\s+project=(?<project>[^;]+);\s*assembly=(?<assembly>[^;]+);")]
    private static partial Regex ServiceCase();
}
