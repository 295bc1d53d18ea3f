using System.Collections;
using System.Reflection;
using Oversight.Attestation;
using Oversight.Enforcement;
using Oversight.Hosting;
using Oversight.Hosting.Data;
using Oversight.Kyc;

namespace Oversight.Deployment.Tests;

/// <summary>
/// Decides whether a configuration key exists in the services' options: every type with a
/// <c>public const string Section</c> in the service assemblies is a root, plus the per-service
/// database sections (DatabaseOptions has none) and Oversight:ServiceAuth (read directly by
/// ServiceTokenSource). Properties are walked case-insensitively; dictionaries accept any key,
/// lists a numeric index.
/// </summary>
internal static class ConfigurationKeys
{
    private static readonly Dictionary<string, Type> Roots = BuildRoots();

    /// <summary>Keys ServiceTokenSource reads with IConfiguration (no options type).</summary>
    private static readonly HashSet<string> Direct = new(StringComparer.OrdinalIgnoreCase)
    {
        "Oversight:ServiceAuth:TokenFile",
        "Oversight:ServiceAuth:Token",
    };

    public static string FromEnvironmentName(string name) => name.Replace("__", ":", StringComparison.Ordinal);

    /// <summary>Null when the key exists, else why not.</summary>
    public static string? Check(string key)
    {
        if (Direct.Contains(key))
        {
            return null;
        }

        var root = Roots.Keys
            .Where(section => key.StartsWith(section + ":", StringComparison.OrdinalIgnoreCase))
            .OrderByDescending(section => section.Length)
            .FirstOrDefault();
        if (root is null)
        {
            return $"{key}: no options section";
        }

        var type = Roots[root];
        foreach (var part in key[(root.Length + 1)..].Split(':'))
        {
            if (type.IsGenericType && typeof(IDictionary).IsAssignableFrom(type))
            {
                type = type.GetGenericArguments()[1];
                continue;
            }

            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
            {
                if (!int.TryParse(part, out _))
                {
                    return $"{key}: '{part}' is not a list index";
                }

                type = type.GetGenericArguments()[0];
                continue;
            }

            var property = type.GetProperty(part, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null || !property.CanWrite)
            {
                return $"{key}: {type.Name} has no settable property '{part}'";
            }

            type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        }

        return type == typeof(string) || type.IsPrimitive || type.IsEnum || type == typeof(TimeSpan) || type == typeof(DateTimeOffset) || type == typeof(decimal)
            ? null
            : $"{key}: ends at {type.Name}, not a value";
    }

    private static Dictionary<string, Type> BuildRoots()
    {
        var assemblies = new[] { typeof(HostingOptions), typeof(KycOptions), typeof(AttestationOptions), typeof(EnforcementOptions) }
            .Select(t => t.Assembly).Distinct();
        var roots = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase);
        foreach (var type in assemblies.SelectMany(a => a.GetTypes()))
        {
            var field = type.GetField("Section", BindingFlags.Public | BindingFlags.Static);
            if (field is { IsLiteral: true } && field.FieldType == typeof(string) && field.GetRawConstantValue() is string section && section.StartsWith("Oversight:", StringComparison.Ordinal))
            {
                roots[section] = type;
            }
        }

        foreach (var service in new[] { "Kyc", "Attestation", "Enforcement" })
        {
            roots[$"Oversight:{service}:Database"] = typeof(DatabaseOptions);
        }

        return roots;
    }
}
