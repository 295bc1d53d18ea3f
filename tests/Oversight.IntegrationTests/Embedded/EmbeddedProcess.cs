using System.Diagnostics;
using System.Text;
using Oversight.Testing;

namespace Oversight.IntegrationTests.Embedded;

/// <summary>
/// Runs the embedded default exactly as a user does (the built `oversight` program, no
/// test host), on free loopback ports and a temporary data folder.
/// </summary>
internal sealed class EmbeddedProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly bool _ownsData;

    private EmbeddedProcess(Process process, int grpcPort, int healthPort, string dataDirectory, bool ownsData)
    {
        _process = process;
        _ownsData = ownsData;
        GrpcPort = grpcPort;
        HealthPort = healthPort;
        DataDirectory = dataDirectory;
    }

    public int GrpcPort { get; }
    public int HealthPort { get; }
    public string DataDirectory { get; }
    public string Output { get { lock (_output) { return _output.ToString(); } } }

    /// <param name="dataDirectory">A data folder to start on (kept afterwards, for a restart); a new temporary one when null.</param>
    public static async Task<EmbeddedProcess> StartAsync(IDictionary<string, string>? environment = null, string? dataDirectory = null)
    {
        // Another test process can take a free port before the program binds it: start again on new ones.
        for (var attempt = 1; ; attempt++)
        {
            var embedded = await TryStartAsync(environment, dataDirectory);
            if (embedded.Started)
            {
                return embedded;
            }

            var output = embedded.Output;
            await embedded.DisposeAsync();
            if (attempt < 5 && output.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            throw new InvalidOperationException($"The embedded default did not start within 90 s. Output:\n{output}");
        }
    }

    private bool Started => _started.Task.IsCompletedSuccessfully;

    private static async Task<EmbeddedProcess> TryStartAsync(IDictionary<string, string>? environment, string? givenDataDirectory)
    {
        var dataDirectory = givenDataDirectory ?? Directory.CreateTempSubdirectory("oversight-embedded-").FullName;
        var grpcPort = ServiceHost.FreePort();
        var healthPort = ServiceHost.FreePort();
        var start = Program("", dataDirectory);
        start.Environment["Oversight__Hosting__GrpcPort"] = grpcPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["Oversight__Hosting__HealthPort"] = healthPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var embedded = new EmbeddedProcess(new Process { StartInfo = start }, grpcPort, healthPort, dataDirectory, ownsData: givenDataDirectory is null);
        embedded._process.OutputDataReceived += (_, line) => embedded.Append(line.Data);
        embedded._process.ErrorDataReceived += (_, line) => embedded.Append(line.Data);
        embedded._process.Start();
        embedded._process.BeginOutputReadLine();
        embedded._process.BeginErrorReadLine();

        var exited = embedded._process.WaitForExitAsync();
        await Task.WhenAny(embedded._started.Task, exited, Task.Delay(TimeSpan.FromSeconds(90)));
        if (exited.IsCompleted)
        {
            await exited; // the output handlers have seen every line once the exit is awaited
        }

        return embedded;
    }

    /// <summary>Runs `oversight token ...` against this instance's data folder and returns the token.</summary>
    public async Task<string> CreateTokenAsync(string role, string? marketplace = null, string? provider = null)
    {
        var arguments = $"token --role {role} --data \"{DataDirectory}\"" + (marketplace is null ? "" : $" --marketplace {marketplace}") +
            (provider is null ? "" : $" --provider {provider}");
        using var process = Process.Start(Program(arguments, DataDirectory))!;
        var token = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"token command failed: {await process.StandardError.ReadToEndAsync()}");
        }

        return token.Trim();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        if (!_ownsData)
        {
            return;
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by the exiting process: the temporary folder is cleaned by the OS later.
        }
    }

    private static ProcessStartInfo Program(string arguments, string dataDirectory)
    {
        var program = Path.Combine(AppContext.BaseDirectory, "oversight.dll");
        var start = new ProcessStartInfo("dotnet", $"\"{program}\" {arguments}")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        start.Environment["Oversight__Hosting__DataDirectory"] = dataDirectory;
        return start;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        if (line.Contains("Oversight (all-in-one) is running.", StringComparison.Ordinal))
        {
            _started.TrySetResult();
        }
    }
}
