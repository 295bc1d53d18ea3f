using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Oversight.Testing;

/// <summary>
/// PRIVATE Redis server process for a test that stops, kills or restarts Redis (fault tests).
/// Never use the shared server from <see cref="TestServers"/> for that. Own port (picked free,
/// kept across restarts), own data directory under <c>$OVERSIGHT_TEST_STATE_DIR/private</c>,
/// bound to 127.0.0.1. With <c>appendOnly</c> the AOF is fsynced on every write, so data
/// survives <see cref="KillAsync"/> as well as <see cref="StopAsync"/>.
/// Needs a local <c>redis-server</c> (OVERSIGHT_TEST_REDIS_SERVER_BIN or PATH); throws
/// <see cref="NotSupportedException"/> otherwise (e.g. Testcontainers-only machines).
/// </summary>
public sealed class RedisServerInstance : IAsyncDisposable
{
    private readonly string _binary;
    private readonly bool _appendOnly;
    private Process? _process;

    public RedisServerInstance(bool appendOnly = false)
    {
        _binary = PrivateServers.FindExecutable(
                      Environment.GetEnvironmentVariable("OVERSIGHT_TEST_REDIS_SERVER_BIN"), "redis-server",
                      "/usr/bin/redis-server")
                  ?? throw new NotSupportedException(
                      "RedisServerInstance needs a local redis-server (apt-get install redis-server; " +
                      "tests/run.sh installs it). It is not available with Testcontainers only.");
        _appendOnly = appendOnly;
        (Port, DataDirectory) = NewPlace();
    }

    public int Port { get; private set; }

    public string DataDirectory { get; private set; }

    private bool _startedOnce;

    private static (int Port, string DataDirectory) NewPlace()
    {
        var port = LoopbackPorts.Free(30000, 32000);
        return (port, PrivateServers.NewDataDirectory($"redis-{port}-{Guid.NewGuid():N}"[..24]));
    }

    /// <summary>StackExchange.Redis configuration, e.g. <c>127.0.0.1:30123</c>.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    private string PidFile => Path.Combine(DataDirectory, "redis.pid");

    private string LogFile => Path.Combine(DataDirectory, "redis.log");

    public static async Task<RedisServerInstance> StartNewAsync(bool appendOnly = false)
    {
        var instance = new RedisServerInstance(appendOnly);
        await instance.StartAsync().ConfigureAwait(false);
        return instance;
    }

    /// <summary>Starts the server (again) on the same port with the same data directory and
    /// waits until it answers PING.</summary>
    public async Task StartAsync()
    {
        // Another test process may take the port between the check and the bind. Before the first
        // start the server can still move; after it, tests rely on its port.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await StartHereAsync().ConfigureAwait(false);
                _startedOnce = true;
                return;
            }
            catch (PortTakenException) when (!_startedOnce && attempt < 5)
            {
                await KillAsync().ConfigureAwait(false);
                try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { }
                (Port, DataDirectory) = NewPlace();
            }
        }
    }

    private sealed class PortTakenException(string message) : Exception(message);

    private async Task StartHereAsync()
    {
        if (IsRunning) return;
        var psi = new ProcessStartInfo(_binary)
        {
            UseShellExecute = false,
            WorkingDirectory = DataDirectory,
            RedirectStandardInput = true,
        };
        foreach (var a in new[]
                 {
                     "--port", Port.ToString(), "--bind", "127.0.0.1", "--protected-mode", "yes",
                     "--daemonize", "no", "--dir", DataDirectory, "--pidfile", PidFile, "--logfile", LogFile,
                     "--save", "", "--appendonly", _appendOnly ? "yes" : "no", "--appendfsync", "always",
                 })
            psi.ArgumentList.Add(a);
        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start redis-server");
        _process.StandardInput.Close();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                var log = PrivateServers.Tail(LogFile);
                var message = $"private Redis on port {Port} exited with {_process.ExitCode}:\n{log}";
                throw log.Contains("Address already in use", StringComparison.OrdinalIgnoreCase)
                    ? new PortTakenException(message)
                    : new InvalidOperationException(message);
            }

            if (await PingAsync().ConfigureAwait(false))
            {
                // The answer may come from another test's server on this port: ours works in our folder.
                if ((await SendAsync("CONFIG GET dir").ConfigureAwait(false))?.Contains(DataDirectory, StringComparison.Ordinal) == true) return;
                throw new PortTakenException($"another Redis answers on port {Port}");
            }

            await Task.Delay(50).ConfigureAwait(false);
        }
        throw new InvalidOperationException($"private Redis on port {Port} did not answer PING in 30 s:\n{PrivateServers.Tail(LogFile)}");
    }

    /// <summary>Graceful stop (SHUTDOWN, or SHUTDOWN NOSAVE). With <paramref name="keepData"/>
    /// false the data directory is emptied, so the next start is a fresh server.</summary>
    public async Task StopAsync(bool keepData = true)
    {
        if (IsRunning)
        {
            await SendAsync(keepData ? "SHUTDOWN" : "SHUTDOWN NOSAVE").ConfigureAwait(false);
            await WaitForExitAsync(TimeSpan.FromSeconds(20)).ConfigureAwait(false);
        }
        if (!keepData) ClearData();
    }

    /// <summary>Crash: SIGKILL. Only fsynced AOF data survives.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            await WaitForExitAsync(TimeSpan.FromSeconds(20)).ConfigureAwait(false);
        }
    }

    public async Task RestartAsync(bool keepData = true)
    {
        await StopAsync(keepData).ConfigureAwait(false);
        await StartAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        try { await KillAsync().ConfigureAwait(false); } catch (Exception) { /* best effort */ }
        _process?.Dispose();
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private void ClearData()
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries(DataDirectory))
        {
            if (entry == LogFile) continue;
            if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
            else File.Delete(entry);
        }
    }

    private async Task WaitForExitAsync(TimeSpan timeout)
    {
        if (_process is null) return;
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _process.Kill();
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
    }

    private async Task<bool> PingAsync() =>
        (await SendAsync("PING").ConfigureAwait(false))?.StartsWith("+PONG", StringComparison.Ordinal) == true;

    // Minimal inline-command client, so this library needs no Redis client package.
    private async Task<string?> SendAsync(string inlineCommand)
    {
        try
        {
            using var client = new TcpClient();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await client.ConnectAsync(IPAddress.Loopback, Port, cts.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(inlineCommand + "\r\n"), cts.Token).ConfigureAwait(false);
            var buffer = new byte[4096];
            var n = await stream.ReadAsync(buffer, cts.Token).ConfigureAwait(false);
            return Encoding.ASCII.GetString(buffer, 0, n);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return null;
        }
    }
}
