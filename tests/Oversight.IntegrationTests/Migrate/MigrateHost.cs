using System.Diagnostics;
using Oversight.Attestation;
using Oversight.Enforcement;
using Oversight.Hosting.Data;
using Oversight.Kyc;
using Oversight.Testing;
using Xunit;

namespace Oversight.IntegrationTests.Migrate;

/// <summary>
/// A host program run in its migrate mode as the chart's Job runs the image: `dotnet
/// &lt;host&gt;.dll migrate` from the host's own build output (its appsettings.json), in
/// Production, configured only by environment variables. The test project references the
/// hosts without their assemblies, so they are built first.
/// </summary>
internal sealed class MigrateHost
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    private MigrateHost(string name, string projectDirectory, string assembly, params ServiceDatabase[] databases)
    {
        Name = name;
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        // This test project's output is tests/<project>/bin/<Configuration>/<TargetFramework>/;
        // the host's is the same under its project folder.
        Directory = Path.Combine(Repository.RootAbove(output), projectDirectory, "bin", output.Parent!.Name, output.Name);
        Assembly = assembly;
        Databases = databases;
    }

    public static IReadOnlyDictionary<string, MigrateHost> All { get; } = new[]
    {
        new MigrateHost("kyc", "services/kyc/Oversight.Kyc.Host", "Oversight.Kyc.Host", KycExtensions.Database),
        new MigrateHost("attestation", "services/attestation/Oversight.Attestation.Host", "Oversight.Attestation.Host", AttestationExtensions.Database),
        new MigrateHost("enforcement", "services/enforcement/Oversight.Enforcement.Host", "Oversight.Enforcement.Host", EnforcementExtensions.Database),
        new MigrateHost("allinone", "services/host/Oversight.AllInOne", "oversight",
            KycExtensions.Database, AttestationExtensions.Database, EnforcementExtensions.Database),
    }.ToDictionary(h => h.Name);

    public string Name { get; }
    public string Directory { get; }
    public string Assembly { get; }

    /// <summary>The service databases this host migrates.</summary>
    public IReadOnlyList<ServiceDatabase> Databases { get; }

    public async Task<Run> RunAsync(IDictionary<string, string> environment, params string[] arguments)
    {
        var program = Path.Combine(Directory, Assembly + ".dll");
        Assert.True(File.Exists(program), $"{program} is missing: build the solution first.");
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(program);
        start.ArgumentList.Add(MigrateCommand.Name);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // Only what the test sets: no Oversight settings inherited from the test process.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("Oversight__", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Timeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{Name} migrate did not exit within {Timeout}:\n{await stdout}\n{await stderr}");
        }

        return new Run(process.ExitCode, await stdout, await stderr);
    }

    public sealed record Run(int ExitCode, string StdOut, string StdErr)
    {
        public override string ToString() => $"exit code {ExitCode}\n--- stdout\n{StdOut}\n--- stderr\n{StdErr}";
    }
}
