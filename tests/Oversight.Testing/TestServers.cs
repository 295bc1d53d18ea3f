using System.Net.Sockets;
using System.Text.RegularExpressions;
using DotNet.Testcontainers.Containers;
using Npgsql;
using Testcontainers.PostgreSql;
using Testcontainers.RabbitMq;
using Testcontainers.Redis;

namespace Oversight.Testing;

/// <summary>
/// Endpoints of the real Redis, PostgreSQL and RabbitMQ that integration tests use.
/// <list type="number">
/// <item>From environment variables set by <c>tests/run.sh</c>:
/// <see cref="RedisEnv"/>, <see cref="RabbitMqEnv"/>, <see cref="PostgresEnv"/>.</item>
/// <item>Else, when <c>OVERSIGHT_TEST_USE_TESTCONTAINERS=1</c> or a Docker engine answers,
/// from Testcontainers with pinned images, started lazily once per test process and
/// disposed at process exit.</item>
/// <item>Else an <see cref="InvalidOperationException"/> naming the missing server: a test
/// that needs a server never skips silently.</item>
/// </list>
/// Tests must not share state: use <see cref="UniqueId"/> for marketplace ids and
/// <see cref="CreatePostgresDatabaseAsync"/> for a database of their own. A test that stops a
/// server uses its own <see cref="RedisServerInstance"/> / <see cref="RabbitMqServerInstance"/>.
/// </summary>
public static class TestServers
{
    public const string RedisEnv = "OVERSIGHT_TEST_REDIS";
    public const string RabbitMqEnv = "OVERSIGHT_TEST_RABBITMQ";
    public const string PostgresEnv = "OVERSIGHT_TEST_POSTGRES";
    public const string UseTestcontainersEnv = "OVERSIGHT_TEST_USE_TESTCONTAINERS";
    public const string StateDirEnv = "OVERSIGHT_TEST_STATE_DIR";

    /// <summary>Pinned images used when a Docker engine is available.</summary>
    public const string RedisImage = "redis:7.2.5-alpine";
    public const string RabbitMqImage = "rabbitmq:3.13.7-alpine";
    public const string PostgresImage = "postgres:16.4-alpine";

    private static readonly Lazy<Task<string>> Redis = new(() => Resolve(
        "Redis", RedisEnv,
        async () =>
        {
            var c = new RedisBuilder(RedisImage).Build();
            await StartContainerAsync(c).ConfigureAwait(false);
            return c.GetConnectionString();
        }), LazyThreadSafetyMode.ExecutionAndPublication);

    private static readonly Lazy<Task<string>> RabbitMq = new(() => Resolve(
        "RabbitMQ", RabbitMqEnv,
        async () =>
        {
            var c = new RabbitMqBuilder(RabbitMqImage).WithUsername("guest").WithPassword("guest").Build();
            await StartContainerAsync(c).ConfigureAwait(false);
            return c.GetConnectionString();
        }), LazyThreadSafetyMode.ExecutionAndPublication);

    private static readonly Lazy<Task<string>> Postgres = new(() => Resolve(
        "PostgreSQL", PostgresEnv,
        async () =>
        {
            var c = new PostgreSqlBuilder(PostgresImage)
                .WithUsername("postgres").WithPassword("postgres").WithDatabase("postgres").Build();
            await StartContainerAsync(c).ConfigureAwait(false);
            return c.GetConnectionString();
        }), LazyThreadSafetyMode.ExecutionAndPublication);

    private static readonly List<IContainer> Containers = new();

    static TestServers()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => DisposeContainers();
    }

    /// <summary>StackExchange.Redis configuration string, e.g. <c>127.0.0.1:16379</c>.</summary>
    public static string RedisConfiguration => Wait(Redis);

    /// <summary>AMQP URI with credentials, e.g. <c>amqp://guest:guest@127.0.0.1:15673/</c>.</summary>
    public static Uri RabbitMqUri => new(Wait(RabbitMq));

    /// <summary>Connection string to the server's <c>postgres</c> database. Create a database of
    /// your own with <see cref="CreatePostgresDatabaseAsync"/> rather than using this one.</summary>
    public static string PostgresConnectionString => Wait(Postgres);

    public static Task<string> GetRedisConfigurationAsync() => Redis.Value;

    public static async Task<Uri> GetRabbitMqUriAsync() => new(await RabbitMq.Value.ConfigureAwait(false));

    public static Task<string> GetPostgresConnectionStringAsync() => Postgres.Value;

    /// <summary>True when the endpoints come from Testcontainers rather than tests/run.sh.</summary>
    public static bool UsingTestcontainers =>
        Environment.GetEnvironmentVariable(UseTestcontainersEnv) is var flag &&
        (flag == "1" || (flag != "0" && Environment.GetEnvironmentVariable(RedisEnv) is null && DockerEngineAnswers()));

    /// <summary>A fresh id for one test, e.g. <c>mkt-3f2a9c0d41b7e6a5</c>.</summary>
    public static string UniqueId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 17)];

    /// <summary>Creates a new, uniquely named database on the test PostgreSQL server and
    /// returns a connection string to it. The database is not dropped (the server is thrown
    /// away after the run).</summary>
    public static async Task<string> CreatePostgresDatabaseAsync(string prefix, CancellationToken cancellationToken = default)
    {
        var baseConnectionString = await Postgres.Value.ConfigureAwait(false);
        var clean = Regex.Replace(prefix.ToLowerInvariant(), "[^a-z0-9_]", "_");
        if (clean.Length == 0 || !char.IsLetter(clean[0])) clean = "t_" + clean;
        if (clean.Length > 30) clean = clean[..30];
        var name = $"{clean}_{Guid.NewGuid():N}";

        var admin = new NpgsqlConnectionStringBuilder(baseConnectionString) { Pooling = false };
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = new NpgsqlConnection(admin.ConnectionString);
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                break;
            }
            // 55006: "source database template1 is being accessed by other users" when many
            // databases are created at once.
            catch (PostgresException e) when (e.SqlState == "55006" && attempt < 20)
            {
                await Task.Delay(100 * attempt, cancellationToken).ConfigureAwait(false);
            }
        }

        return new NpgsqlConnectionStringBuilder(baseConnectionString) { Database = name }.ConnectionString;
    }

    /// <summary>Cheap check for a Docker engine: DOCKER_HOST set, or the default socket accepts
    /// a connection.</summary>
    public static bool DockerEngineAnswers()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_HOST"))) return true;
        const string socketPath = "/var/run/docker.sock";
        if (!File.Exists(socketPath)) return false;
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static Task<string> Resolve(string server, string envVar, Func<Task<string>> startContainer)
    {
        var fromEnv = Environment.GetEnvironmentVariable(envVar);
        if (!string.IsNullOrWhiteSpace(fromEnv)) return Task.FromResult(fromEnv.Trim());

        var flag = Environment.GetEnvironmentVariable(UseTestcontainersEnv);
        if (flag == "1" || (flag != "0" && DockerEngineAnswers()))
            return Task.Run(startContainer);

        return Task.FromException<string>(new InvalidOperationException(
            $"{server} for the integration tests is not available: {envVar} is not set and no Docker " +
            "engine answers (DOCKER_HOST unset, /var/run/docker.sock not connectable). Run the tests " +
            "with tests/run.sh, which starts Redis, RabbitMQ and PostgreSQL on 127.0.0.1, or set " +
            $"{envVar} to a running {server}."));
    }

    private static async Task StartContainerAsync(IContainer container)
    {
        lock (Containers) Containers.Add(container);
        await container.StartAsync().ConfigureAwait(false);
    }

    // Blocking accessors run on the thread pool so they never deadlock on a test framework's
    // synchronization context.
    private static string Wait(Lazy<Task<string>> lazy) => Task.Run(() => lazy.Value).GetAwaiter().GetResult();

    private static void DisposeContainers()
    {
        IContainer[] all;
        lock (Containers) all = Containers.ToArray();
        foreach (var c in all)
        {
            try { c.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(20)); }
            catch (Exception) { /* the Testcontainers resource reaper removes it anyway */ }
        }
    }
}
