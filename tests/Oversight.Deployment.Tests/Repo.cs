using System.Diagnostics;

namespace Oversight.Deployment.Tests;

/// <summary>Repository paths and the external tools the deployment checks run.</summary>
internal static class Repo
{
    public static readonly string Root = FindRoot();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>.tools/helm, installed by deploy/ci/install-tools.sh.</summary>
    public static string Helm => Require(Path(".tools", "helm"), "helm");

    public static string DockerCompose => RequireOnPath("docker-compose");

    public static string Node => RequireOnPath("node");

    /// <summary>promtool, from Debian's prometheus package (install-tools.sh).</summary>
    public static string Promtool => RequireOnPath("promtool");

    public static void RequireNodeModules()
    {
        foreach (var module in new[] { "kubernetes-models", "@kubernetes-models/prometheus-operator", "yaml" })
        {
            Assert.True(Directory.Exists(Path(".tools", "node_modules", module)),
                $".tools/node_modules/{module} is missing: run `bash deploy/ci/install-tools.sh`.");
        }
    }

    public static (int ExitCode, string StdOut, string StdErr) Run(string file, IEnumerable<string> args, string? stdin = null, IDictionary<string, string>? env = null)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            start.Environment[k] = v;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }

        if (!process.WaitForExit(TimeSpan.FromSeconds(50)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} timed out");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>helm with its cache/config/data in a temp folder (offline).</summary>
    public static string HelmRun(params string[] args)
    {
        var home = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "oversight-helm-home");
        Directory.CreateDirectory(home);
        var env = new Dictionary<string, string> { ["HELM_CACHE_HOME"] = home, ["HELM_CONFIG_HOME"] = home, ["HELM_DATA_HOME"] = home };
        var (code, stdout, stderr) = Run(Helm, args, env: env);
        Assert.True(code == 0, $"helm {string.Join(' ', args)} failed ({code}):\n{stdout}\n{stderr}");
        return stdout;
    }

    private static string Require(string path, string name)
    {
        Assert.True(File.Exists(path), $"{name} not found at {path}: run `bash deploy/ci/install-tools.sh`.");
        return path;
    }

    private static string RequireOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = System.IO.Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.Fail($"{name} is not on PATH: run `bash deploy/ci/install-tools.sh`.");
        return "";
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Oversight.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Oversight.sln not found above " + AppContext.BaseDirectory);
    }
}
