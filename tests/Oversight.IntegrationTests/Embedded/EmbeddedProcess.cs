using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

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

    private EmbeddedProcess(Process process, int grpcPort, int healthPort, string dataDirectory)
    {
        _process = process;
        GrpcPort = grpcPort;
        HealthPort = healthPort;
        DataDirectory = dataDirectory;
    }

    public int GrpcPort { get; }
    public int HealthPort { get; }
    public string DataDirectory { get; }
    public string Output { get { lock (_output) { return _output.ToString(); } } }

    public static async Task<EmbeddedProcess> StartAsync(IDictionary<string, string>? environment = null)
    {
        var dataDirectory = Directory.CreateTempSubdirectory("oversight-embedded-").FullName;
        var grpcPort = FreePort();
        var healthPort = FreePort();
        var start = Program("", dataDirectory);
        start.Environment["Oversight__Hosting__GrpcPort"] = grpcPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["Oversight__Hosting__HealthPort"] = healthPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var embedded = new EmbeddedProcess(new Process { StartInfo = start }, grpcPort, healthPort, dataDirectory);
        embedded._process.OutputDataReceived += (_, line) => embedded.Append(line.Data);
        embedded._process.ErrorDataReceived += (_, line) => embedded.Append(line.Data);
        embedded._process.Start();
        embedded._process.BeginOutputReadLine();
        embedded._process.BeginErrorReadLine();

        var exited = embedded._process.WaitForExitAsync();
        var first = await Task.WhenAny(embedded._started.Task, exited, Task.Delay(TimeSpan.FromSeconds(90)));
        if (first != embedded._started.Task)
        {
            var output = embedded.Output;
            await embedded.DisposeAsync();
            throw new InvalidOperationException($"The embedded default did not start within 90 s. Output:\n{output}");
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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
