namespace Oversight.Hosting;

/// <summary>
/// `--help` for a host's command line. Without it `--help` would be taken as configuration and
/// the host would start (or, outside Development, stop on its first missing secret).
/// </summary>
public static class HostUsage
{
    public static bool Asked(string[] args) => args is ["-h" or "--help" or "help", ..];

    /// <summary>The usage of a host: <paramref name="name"/> starts it, or runs one of its commands.</summary>
    public static string For(string name, string serves, params string[] extraCommands) =>
        string.Join('\n',
        [
            $"usage: {name} [--<configuration key>=<value> ...]",
            $"  Starts {serves}.",
            "  Configuration comes from appsettings.json, the environment (e.g. Oversight__Hosting__GrpcPort=7400)",
            "  and the command line; the README lists the keys.",
            .. extraCommands.Select(command => "  " + command),
            $"  {name} migrate [--help]   applies the database migrations and exits",
            $"  {name} --help             prints this",
        ]);
}
