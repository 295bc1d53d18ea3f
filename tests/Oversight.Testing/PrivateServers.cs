using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Oversight.Testing;

/// <summary>Plumbing shared by <see cref="RedisServerInstance"/> and <see cref="RabbitMqServerInstance"/>.</summary>
internal static class PrivateServers
{
    /// <summary>Where private servers keep their data: <c>$OVERSIGHT_TEST_STATE_DIR/private/NAME</c>
    /// (tests/run.sh kills whatever is left there by pid file) or a temp directory.</summary>
    public static string NewDataDirectory(string name)
    {
        var state = Environment.GetEnvironmentVariable(TestServers.StateDirEnv);
        var root = !string.IsNullOrWhiteSpace(state)
            ? Path.Combine(state, "private")
            : Path.Combine(Path.GetTempPath(), "oversight-test-servers");
        var dir = Path.Combine(root, name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static bool PortOpen(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Runs a command to completion; returns exit code and combined output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(
        string fileName, IEnumerable<string> args, IDictionary<string, string>? env, string workingDirectory,
        TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null)
        {
            foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("RABBITMQ_", StringComparison.Ordinal) || k.StartsWith("ERL_", StringComparison.Ordinal)).ToList())
                psi.Environment.Remove(key);
            foreach (var (k, v) in env) psi.Environment[k] = v;
        }

        using var process = new Process { StartInfo = psi };
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            lock (output) return (-1, output + $"\n(timed out after {timeout})");
        }
        process.WaitForExit();
        lock (output) return (process.ExitCode, output.ToString());
    }

    public static int? ReadPid(string pidFile)
    {
        try
        {
            return int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    public static bool Alive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>SIGKILL, then wait until the process is gone.</summary>
    public static async Task KillAsync(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            p.Kill();
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (ArgumentException) { }
        catch (InvalidOperationException) { }
    }

    public static async Task WaitUntilGoneAsync(int pid, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Alive(pid) && DateTime.UtcNow < deadline) await Task.Delay(50).ConfigureAwait(false);
        if (Alive(pid)) await KillAsync(pid).ConfigureAwait(false);
    }

    public static string Tail(string path, int lines = 30)
    {
        try
        {
            return string.Join('\n', File.ReadLines(path).TakeLast(lines));
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    public static string? FindExecutable(string? fromEnv, string name, params string[] candidates)
    {
        if (!string.IsNullOrWhiteSpace(fromEnv) && File.Exists(fromEnv)) return fromEnv;
        foreach (var c in candidates)
            if (File.Exists(c)) return c;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var p = Path.Combine(dir, name);
            if (File.Exists(p)) return p;
        }
        return null;
    }
}
