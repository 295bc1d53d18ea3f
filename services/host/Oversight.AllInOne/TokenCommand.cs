using Oversight.Hosting;
using Oversight.Hosting.Auth;

namespace Oversight.AllInOne;

/// <summary>
/// Prints a development token signed with the key the embedded default keeps in its data
/// folder. Refused when that host would run in Production.
/// </summary>
internal static class TokenCommand
{
    private const string Usage = """
        usage: oversight token --role ROLE [--marketplace ID] [--provider ID] [--subject NAME] [--ttl-minutes N] [--data DIR]
          ROLE is one of: operator, provider, auditor, compliance, admin, service
          example: oversight token --role operator --marketplace demo
        """;

    public static int Run(string[] args)
    {
        if (HostUsage.Asked(args))
        {
            Console.WriteLine(Usage);
            return 0;
        }

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

        if (!options.TryGetValue("role", out var role) || !Roles.All.Contains(role))
        {
            Console.Error.WriteLine("--role is required and must be a known role.");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var environment = Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT");
        if (string.Equals(environment, "Production", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine("Development tokens are refused in Production.");
            return 2;
        }

        if (role is not (Roles.Admin or Roles.Service) && !options.ContainsKey("marketplace"))
        {
            Console.Error.WriteLine($"--marketplace is required for role '{role}': a caller acts only inside its marketplace.");
            return 2;
        }

        var dataDirectory = options.GetValueOrDefault("data") ?? new HostingOptions().DataDirectory;
        var key = DevelopmentSigningKey.LoadOrCreate(dataDirectory);
        var minutes = int.Parse(options.GetValueOrDefault("ttl-minutes") ?? "480", System.Globalization.CultureInfo.InvariantCulture);
        var token = key.CreateToken(
            audience: new AuthOptions().Audience,
            role: role,
            marketplace: options.GetValueOrDefault("marketplace"),
            provider: options.GetValueOrDefault("provider"),
            subject: options.GetValueOrDefault("subject") ?? $"dev-{role}",
            lifetime: TimeSpan.FromMinutes(minutes),
            now: DateTimeOffset.UtcNow);
        Console.WriteLine(token);
        return 0;
    }
}
