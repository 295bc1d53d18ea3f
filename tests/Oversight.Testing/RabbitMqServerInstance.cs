namespace Oversight.Testing;

/// <summary>
/// PRIVATE RabbitMQ node for a test that stops, kills or restarts the broker (fault tests).
/// Never stop the shared broker from <see cref="TestServers"/>. Own node name
/// (<c>rabbit-ovt-N@localhost</c>), own AMQP and distribution ports (picked free, kept across
/// restarts), own Mnesia/log directories under <c>$OVERSIGHT_TEST_STATE_DIR/private</c>, so
/// stopping and starting again keeps durable exchanges, queues and persistent messages.
/// Bound to 127.0.0.1; epmd on <c>OVERSIGHT_TEST_EPMD_PORT</c> (default 14369), loopback only.
/// Start-up takes a few seconds. Needs local RabbitMQ scripts (OVERSIGHT_TEST_RABBITMQ_BIN_DIR
/// or /usr/lib/rabbitmq/bin); throws <see cref="NotSupportedException"/> otherwise.
/// </summary>
public sealed class RabbitMqServerInstance : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);
    private readonly string _binDir;
    private readonly Dictionary<string, string> _env;

    public RabbitMqServerInstance()
    {
        var fromEnv = Environment.GetEnvironmentVariable("OVERSIGHT_TEST_RABBITMQ_BIN_DIR");
        _binDir = new[] { fromEnv, "/usr/lib/rabbitmq/bin", "/usr/lib/rabbitmq/sbin" }
                      .FirstOrDefault(d => !string.IsNullOrWhiteSpace(d) && File.Exists(Path.Combine(d, "rabbitmq-server")))
                  ?? throw new NotSupportedException(
                      "RabbitMqServerInstance needs a local RabbitMQ (apt-get install rabbitmq-server; " +
                      "tests/run.sh installs it). It is not available with Testcontainers only.");

        AmqpPort = LoopbackPorts.Free(30000, 32000);
        var distPort = LoopbackPorts.Free(20000, 24000);
        NodeName = $"rabbit-ovt-{AmqpPort}@localhost";
        DataDirectory = PrivateServers.NewDataDirectory($"rabbitmq-{AmqpPort}-{Guid.NewGuid():N}"[..27]);
        Directory.CreateDirectory(Path.Combine(DataDirectory, "log"));
        File.WriteAllText(Path.Combine(DataDirectory, "enabled_plugins"), "[].\n");
        File.WriteAllText(Path.Combine(DataDirectory, "advanced.config"), "[].\n");
        File.WriteAllText(Path.Combine(DataDirectory, "rabbitmq-env.conf"), "");
        File.WriteAllText(Path.Combine(DataDirectory, "rabbitmq.conf"),
            "loopback_users.guest = true\ndisk_free_limit.absolute = 50MB\n");
        var epmdPort = Environment.GetEnvironmentVariable("OVERSIGHT_TEST_EPMD_PORT") is { Length: > 0 } p ? p : "14369";

        _env = new Dictionary<string, string>
        {
            ["RABBITMQ_NODENAME"] = NodeName,
            ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
            ["RABBITMQ_NODE_PORT"] = AmqpPort.ToString(),
            ["RABBITMQ_DIST_PORT"] = distPort.ToString(),
            ["ERL_EPMD_ADDRESS"] = "127.0.0.1",
            ["ERL_EPMD_PORT"] = epmdPort,
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(DataDirectory, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(DataDirectory, "log"),
            ["RABBITMQ_PID_FILE"] = PidFile,
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(DataDirectory, "enabled_plugins"),
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(DataDirectory, "rabbitmq.conf"),
            ["RABBITMQ_ADVANCED_CONFIG_FILE"] = Path.Combine(DataDirectory, "advanced.config"),
            ["RABBITMQ_CONF_ENV_FILE"] = Path.Combine(DataDirectory, "rabbitmq-env.conf"),
        };
    }

    public string NodeName { get; }

    public int AmqpPort { get; }

    public string DataDirectory { get; }

    /// <summary>AMQP URI, e.g. <c>amqp://guest:guest@127.0.0.1:30456/</c>.</summary>
    public Uri AmqpUri => new($"amqp://guest:guest@127.0.0.1:{AmqpPort}/");

    public bool IsRunning => PrivateServers.ReadPid(PidFile) is { } pid && PrivateServers.Alive(pid);

    private string PidFile => Path.Combine(DataDirectory, "rabbit.pid");

    private string NodeLog => Path.Combine(DataDirectory, "log", NodeName + ".log");

    public static async Task<RabbitMqServerInstance> StartNewAsync()
    {
        var instance = new RabbitMqServerInstance();
        await instance.StartAsync().ConfigureAwait(false);
        return instance;
    }

    /// <summary>Starts the node (again, with the same data) and waits until it accepts AMQP.</summary>
    public async Task StartAsync()
    {
        if (IsRunning) return;
        TryDelete(PidFile);
        var (code, output) = await Ctl("rabbitmq-server", TimeSpan.FromSeconds(60), "-detached").ConfigureAwait(false);
        if (code != 0)
            throw new InvalidOperationException($"private RabbitMQ {NodeName} failed to start ({code}):\n{output}\n{PrivateServers.Tail(NodeLog)}");

        (code, output) = await Ctl("rabbitmqctl", StartTimeout + TimeSpan.FromSeconds(30),
            "wait", "--timeout", ((int)StartTimeout.TotalSeconds).ToString(), PidFile).ConfigureAwait(false);
        if (code == 0)
            (code, output) = await Ctl("rabbitmqctl", StartTimeout + TimeSpan.FromSeconds(30),
                "await_startup", "--timeout", ((int)StartTimeout.TotalSeconds).ToString()).ConfigureAwait(false);
        if (code != 0)
            throw new InvalidOperationException($"private RabbitMQ {NodeName} did not start ({code}):\n{output}\n{PrivateServers.Tail(NodeLog)}");

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!PrivateServers.PortOpen(AmqpPort))
        {
            if (DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"private RabbitMQ {NodeName} does not listen on {AmqpPort}:\n{PrivateServers.Tail(NodeLog)}");
            await Task.Delay(100).ConfigureAwait(false);
        }
    }

    /// <summary>Graceful stop (rabbitmqctl shutdown). Data stays for the next
    /// <see cref="StartAsync"/>.</summary>
    public async Task StopAsync()
    {
        var pid = PrivateServers.ReadPid(PidFile);
        if (pid is null || !PrivateServers.Alive(pid.Value)) return;
        await Ctl("rabbitmqctl", TimeSpan.FromSeconds(60), "shutdown").ConfigureAwait(false);
        await PrivateServers.WaitUntilGoneAsync(pid.Value, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
    }

    /// <summary>Crash: SIGKILL of the Erlang VM.</summary>
    public async Task KillAsync()
    {
        if (PrivateServers.ReadPid(PidFile) is { } pid) await PrivateServers.KillAsync(pid).ConfigureAwait(false);
    }

    public async Task RestartAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await StartAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        try { await KillAsync().ConfigureAwait(false); } catch (Exception) { /* best effort */ }
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private Task<(int ExitCode, string Output)> Ctl(string script, TimeSpan timeout, params string[] args) =>
        PrivateServers.RunAsync(Path.Combine(_binDir, script), args, _env, DataDirectory, timeout);

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { }
    }
}
