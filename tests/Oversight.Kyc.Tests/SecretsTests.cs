using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Oversight.Hosting;
using Oversight.Hosting.Auth;
using Oversight.Hosting.Bus;
using Oversight.Kyc.Data;
using Oversight.Kyc.Purposes;
using Oversight.Kyc.Secrets;
using Oversight.Kyc.V1;
using Oversight.Testing;

namespace Oversight.Kyc.Tests;

public class SecretsTests
{
    [Fact]
    public async Task Start_OutsideDevelopmentWithoutSecrets_RefusesNamingTheMissingKeys()
    {
        var data = Path.Combine(Path.GetTempPath(), "oversight-kyc-tests", Guid.NewGuid().ToString("N"));
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Staging });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Oversight:Hosting:GrpcPort"] = ServiceHost.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Oversight:Hosting:HealthPort"] = ServiceHost.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Oversight:Hosting:DataDirectory"] = data,
            ["Oversight:Auth:UseDevelopmentKey"] = "true",
            ["Oversight:Kyc:Database:MigrateOnStart"] = "false",
        });
        builder.AddOversightDefaults();
        builder.AddKyc();
        builder.AddOversightBus();
        await using var app = builder.Build();

        var exception = await Record.ExceptionAsync(() => app.StartAsync());

        // Each options class that fails says so; several failing ones come as one AggregateException.
        var failures = exception is AggregateException aggregate ? aggregate.InnerExceptions : [exception!];
        Assert.All(failures, f => Assert.IsType<OptionsValidationException>(f));
        var message = string.Join(" ", failures.Select(f => f.Message));
        Assert.Contains("Oversight:Kyc:Secrets:PurposeKeys", message, StringComparison.Ordinal);
        Assert.Contains("Oversight:Kyc:Secrets:PurposeHashKey:Key", message, StringComparison.Ordinal);
        Assert.Contains("Oversight:Kyc:Secrets:BlindIndexKey:Key", message, StringComparison.Ordinal);
        Assert.Contains("Oversight:Kyc:TierTokens:SigningKeys is required", message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(data, DevelopmentSecrets.FileName)));
        Assert.False(File.Exists(Path.Combine(data, Tokens.DevelopmentTierTokenKey.FileName)));
    }

    [Fact]
    public async Task Development_WithoutConfiguredSecrets_GeneratesThemOnceAndARestartedHostStillDecrypts()
    {
        var connectionString = await TestServers.CreatePostgresDatabaseAsync("kyc_dev");
        var data = Path.Combine(Path.GetTempPath(), "oversight-kyc-tests", Guid.NewGuid().ToString("N"));
        var settings = new Dictionary<string, string?>
        {
            ["Oversight:Kyc:Database:Provider"] = "Postgres",
            ["Oversight:Kyc:Database:ConnectionString"] = connectionString,
        };
        var marketplace = TestServers.UniqueId("mkt");

        await using (var first = await ServiceHost.StartAsync(settings, b => b.AddKyc(), a => a.MapKyc(), data))
        {
            var client = new KycTiering.KycTieringClient(first.Channel);
            var op = first.Auth(Roles.Operator, marketplace);
            await client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "d" }, op);
            await client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = "d", Category = PurposeCategory.Research, Text = "kept across restarts" }, op);
        }

        Assert.True(File.Exists(Path.Combine(data, DevelopmentSecrets.FileName)));
        await using var second = await ServiceHost.StartAsync(settings, b => b.AddKyc(), a => a.MapKyc(), data);
        var read = await new KycTiering.KycTieringClient(second.Channel).ReadPurposeAsync(
            new ReadPurposeRequest { MarketplaceId = marketplace, AccountId = "d", Reason = "restart check" }, second.Auth(Roles.Auditor, marketplace));
        Assert.Equal("kept across restarts", read.Text);
    }

    [Fact]
    public void Validator_RefusesShortKeysAndAnUnknownCurrentVersion()
    {
        var options = new KycSecretsOptions
        {
            PurposeKeys = { ["k1"] = Convert.ToBase64String(new byte[16]) },
            CurrentPurposeKeyVersion = "k9",
            PurposeHashKey = new VersionedKey { Version = "h", Key = Convert.ToBase64String(new byte[8]) },
            BlindIndexKey = new VersionedKey { Version = "b", Key = "not base64!" },
        };

        var result = new KycSecretsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("PurposeKeys:k1", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("CurrentPurposeKeyVersion 'k9'", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("PurposeHashKey:Key", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("BlindIndexKey:Key", result.FailureMessage, StringComparison.Ordinal);
    }
}

public class KycCryptoTests
{
    private static KycCrypto Crypto(string current, params (string Version, byte[] Key)[] keys)
    {
        var options = new KycSecretsOptions
        {
            CurrentPurposeKeyVersion = current,
            PurposeHashKey = new VersionedKey { Version = "h1", Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) },
            BlindIndexKey = new VersionedKey { Version = "b1", Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) },
        };
        foreach (var (version, key) in keys)
        {
            options.PurposeKeys[version] = Convert.ToBase64String(key);
        }

        return new KycCrypto(Options.Create(options));
    }

    [Fact]
    public void Sealed_Text_OpensOnlyForItsOwnAccountAndField()
    {
        var crypto = Crypto("k1", ("k1", RandomNumberGenerator.GetBytes(32)));
        var (dataKey, key) = crypto.CreateDataKey("m", "a", DateTimeOffset.UnixEpoch);
        var sealedText = KycCrypto.Seal(dataKey, key, KycCrypto.PurposeTextField, "hello");

        Assert.Equal("hello", KycCrypto.Open(crypto.Unwrap(key), key, KycCrypto.PurposeTextField, sealedText, key.DataKeyVersion));
        var otherAccount = new AccountKeyRecord { MarketplaceId = "m", AccountId = "b", WrappedKey = key.WrappedKey, KekVersion = key.KekVersion, DataKeyVersion = 1 };
        Assert.ThrowsAny<CryptographicException>(() => KycCrypto.Open(dataKey, otherAccount, KycCrypto.PurposeTextField, sealedText, 1));
        Assert.ThrowsAny<CryptographicException>(() => KycCrypto.Open(dataKey, key, "other_field", sealedText, 1));
        // The wrapped key itself is bound to its account too.
        Assert.ThrowsAny<CryptographicException>(() => crypto.Unwrap(otherAccount));
    }

    [Fact]
    public void KeyEncryptionKeyRotation_OldDataKeysStillUnwrap_AndRewrapUnderTheNewVersion()
    {
        var k1 = RandomNumberGenerator.GetBytes(32);
        var k2 = RandomNumberGenerator.GetBytes(32);
        var (dataKey, key) = Crypto("k1", ("k1", k1)).CreateDataKey("m", "a", DateTimeOffset.UnixEpoch);
        var rotated = Crypto("k2", ("k1", k1), ("k2", k2));

        Assert.Equal(dataKey, rotated.Unwrap(key));
        rotated.Wrap(key, dataKey);
        Assert.Equal("k2", key.KekVersion);
        Assert.Equal(dataKey, Crypto("k2", ("k2", k2)).Unwrap(key));
    }

    [Fact]
    public void BlindIndex_IgnoresSpacingAndCase_ButNotTheKey()
    {
        var crypto = Crypto("k1", ("k1", RandomNumberGenerator.GetBytes(32)));

        Assert.Equal(crypto.BlindIndex("ab-12 34").Index, crypto.BlindIndex("AB1234").Index);
        Assert.NotEqual(crypto.BlindIndex("AB1234").Index, Crypto("k1", ("k1", RandomNumberGenerator.GetBytes(32))).BlindIndex("AB1234").Index);
    }
}
