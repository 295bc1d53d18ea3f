using Oversight.Hosting;
using Oversight.Hosting.Auth;

namespace Oversight.AllInOne;

/// <summary>
/// Prints a development token signed with the key the embedded default keeps in its data
/// folder. Refused when that host would run in Production. The data folder and the audience
/// come from the host's own configuration (appsettings, environment, --Oversight:...=value),
/// so a token made beside a host started with Oversight__Hosting__DataDirectory fits it.
/// </summary>
internal static class TokenCommand
{
    private const string Usage = """
        usage: oversight token --role ROLE [--marketplace ID] [--provider ID] [--subject NAME] [--ttl-minutes N] [--data DIR]
          ROLE is one of: operator, provider, auditor, compliance, admin, service
          --data DIR  the host's data folder (default: the host's Oversight:Hosting:DataDirectory,
                      from appsettings, Oversight__Hosting__DataDirectory or --Oversight:Hosting:DataDirectory=DIR)
          example: oversight token --role operator --marketplace demo
        """;

    public static int Run(string[] args)
    {
        if (HostUsage.Asked(args))
        {
            Console.WriteLine(Usage);
            return 0;
        }

        // --Oversight:Section:Key=value is configuration, as for a normal start; the rest are this command's.
        var configurationArgs = args.Where(IsConfiguration).ToArray();
        args = [.. args.Where(a => !IsConfiguration(a))];
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                Console.Error.WriteLine($"unexpected argument '{args[i]}'");
                Console.Error.WriteLine(Usage);
                return 2;
            }

            options[args[i][2..]] = args[++i];
        }

        if (options.Keys.FirstOrDefault(k => !Known.Contains(k)) is { } unknown)
        {
            Console.Error.WriteLine($"unknown option '--{unknown}'");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var minutes = 480;
        if (options.TryGetValue("ttl-minutes", out var ttl)
            && (!int.TryParse(ttl, System.Globalization.CultureInfo.InvariantCulture, out minutes) || minutes is < 1 or > 525_600))
        {
            Console.Error.WriteLine($"--ttl-minutes must be a whole number of minutes from 1 to 525600 (a year), not '{ttl}'.");
            return 2;
        }

        if (!options.TryGetValue("role", out var role) || !Roles.All.Contains(role))
        {
            Console.Error.WriteLine(role is null ? "--role is required." : $"--role '{role}' is not a role.");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        // A token naming an id no service accepts would only fail later, at every call.
        foreach (var name in new[] { "marketplace", "provider" })
        {
            if (options.TryGetValue(name, out var id) && !Validation.IsId(id))
            {
                Console.Error.WriteLine($"--{name} '{id}' is not an id: 1-128 characters of letters, digits, '.', '_', ':' or '-'.");
                return 2;
            }
        }

        var environment = Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT");
        if (string.Equals(environment, "Production", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine("Development tokens are refused in Production.");
            return 2;
        }

        if (role == Roles.Provider && !options.ContainsKey("provider"))
        {
            Console.Error.WriteLine("--provider is required for role 'provider': a provider host acts only for the provider named in its token.");
            return 2;
        }

        if (role is not (Roles.Admin or Roles.Service) && !options.ContainsKey("marketplace"))
        {
            Console.Error.WriteLine($"--marketplace is required for role '{role}': a caller acts only inside its marketplace.");
            return 2;
        }

        // The web builder reads exactly the configuration sources of a normal start; nothing is started.
        var configuration = WebApplication.CreateBuilder(configurationArgs).Configuration;
        var hosting = configuration.GetSection(HostingOptions.Section).Get<HostingOptions>() ?? new HostingOptions();
        var auth = configuration.GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new AuthOptions();
        var key = DevelopmentSigningKey.LoadOrCreate(options.GetValueOrDefault("data") ?? hosting.DataDirectory);
        var token = key.CreateToken(
            audience: auth.Audience,
            role: role,
            marketplace: options.GetValueOrDefault("marketplace"),
            provider: options.GetValueOrDefault("provider"),
            subject: options.GetValueOrDefault("subject") ?? $"dev-{role}",
            lifetime: TimeSpan.FromMinutes(minutes),
            now: DateTimeOffset.UtcNow);
        Console.WriteLine(token);
        return 0;
    }

    private static readonly HashSet<string> Known = new(StringComparer.Ordinal) { "role", "marketplace", "provider", "subject", "ttl-minutes", "data" };

    private static bool IsConfiguration(string arg) => arg.StartsWith("--Oversight:", StringComparison.OrdinalIgnoreCase) && arg.Contains('=', StringComparison.Ordinal);
}
