using System.Security.Cryptography;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Oversight.Deployment.Tests;

public sealed class ComposeTests
{
    [Fact]
    public void Compose_file_validates_offline_with_docker_compose_config()
    {
        var (code, stdout, stderr) = Repo.Run(Repo.DockerCompose, ["-f", "docker-compose.yml", "--env-file", ".env.example", "config", "--quiet"]);
        Assert.True(code == 0, $"docker-compose config failed ({code}):\n{stdout}\n{stderr}");
    }

    [Fact]
    public void Every_configuration_key_compose_sets_exists_in_the_options()
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Repo.Path("docker-compose.yml")))
        {
            yaml.Load(new MergingParser(new Parser(reader)));
        }

        var services = (YamlMappingNode)((YamlMappingNode)yaml.Documents[0].RootNode)["services"];
        var keys = new List<string>();
        foreach (var name in new[] { "kyc", "attestation", "enforcement" })
        {
            var environment = (YamlMappingNode)((YamlMappingNode)services[name])["environment"];
            keys.AddRange(environment.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).Where(k => k.StartsWith("Oversight__", StringComparison.Ordinal)));
        }

        Assert.True(keys.Count > 30, $"only {keys.Count} keys found");
        var failures = keys.Distinct().Select(k => ConfigurationKeys.Check(ConfigurationKeys.FromEnvironmentName(k))).OfType<string>().ToList();
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public void Key_checker_rejects_unknown_keys()
    {
        Assert.NotNull(ConfigurationKeys.Check("Oversight:Enforcement:RedisConfig"));
        Assert.NotNull(ConfigurationKeys.Check("Oversight:Kyc:Database:Providr"));
        Assert.NotNull(ConfigurationKeys.Check("Oversight:Nope:X"));
        Assert.NotNull(ConfigurationKeys.Check("Oversight:Kyc:TierTokens:SigningKeys:first:Pem"));
        Assert.Null(ConfigurationKeys.Check("Oversight:Kyc:TierTokens:SigningKeys:0:Pem"));
        Assert.Null(ConfigurationKeys.Check("Oversight:Kyc:Secrets:PurposeKeys:v7"));
    }

    [Fact]
    public void A_one_line_PEM_as_env_example_suggests_imports_as_a_P256_key()
    {
        // .env.example: openssl genpkey ... | paste -sd' '  (env files hold one line).
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var oneLine = key.ExportPkcs8PrivateKeyPem().Replace('\n', ' ');
        using var imported = ECDsa.Create();
        imported.ImportFromPem(oneLine);
        Assert.Equal(256, imported.KeySize);
    }

    [Fact]
    public void Env_example_defines_every_variable_compose_requires()
    {
        var compose = File.ReadAllText(Repo.Path("docker-compose.yml"));
        var required = System.Text.RegularExpressions.Regex.Matches(compose, @"\$\{(?<name>[A-Z0-9_]+):\?").Select(m => m.Groups["name"].Value).Distinct();
        var defined = File.ReadAllLines(Repo.Path(".env.example")).Where(l => l.Contains('=') && !l.StartsWith('#')).Select(l => l[..l.IndexOf('=')]).ToHashSet();
        Assert.All(required, name => Assert.Contains(name, defined));
    }
}
