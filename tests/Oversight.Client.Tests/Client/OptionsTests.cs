using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Oversight.Client;

namespace Oversight.Client.Tests.Client;

public sealed class OptionsTests
{
    [Fact]
    public void AddOversightClient_BindsTheSection_AndPerServiceAddressesOverrideTheSharedOne()
    {
        using var services = Build(new()
        {
            ["Oversight:Client:Address"] = "http://127.0.0.1:7400",
            ["Oversight:Client:EnforcementAddress"] = "https://enforcement.example:7430",
            ["Oversight:Client:Token"] = "t0ken",
            ["Oversight:Client:DefaultDeadline"] = "00:00:03",
            ["Oversight:Client:Retry:MaxAttempts"] = "2",
            ["Oversight:Client:Retry:InitialBackoff"] = "00:00:00.05",
        });

        var options = services.GetRequiredService<IOptions<OversightClientOptions>>().Value;
        Assert.Equal(new Uri("http://127.0.0.1:7400"), options.AddressOf(OversightService.Kyc));
        Assert.Equal(new Uri("http://127.0.0.1:7400"), options.AddressOf(OversightService.Attestation));
        Assert.Equal(new Uri("https://enforcement.example:7430"), options.AddressOf(OversightService.Enforcement));
        Assert.Equal("t0ken", options.Token);
        Assert.Equal(TimeSpan.FromSeconds(3), options.DefaultDeadline);
        Assert.Equal(2, options.Retry.MaxAttempts);
        Assert.Equal(TimeSpan.FromMilliseconds(50), options.Retry.InitialBackoff);
        Assert.NotNull(services.GetRequiredService<OversightClient>().Enforcement);
    }

    [Fact]
    public void AddOversightClient_WithoutAnAddress_FailsAtFirstUseNamingTheKey()
    {
        using var services = Build([]);

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<OversightClient>());
        Assert.Contains("Oversight:Client:Address", error.Message);
    }

    [Theory]
    [InlineData("http://oversight.internal:7400", false, "AllowInsecureTransport")]
    [InlineData("http://oversight.internal:7400", true, null)]
    [InlineData("http://localhost:7400", false, null)]
    [InlineData("http://[::1]:7400", false, null)]
    [InlineData("https://oversight.example", false, null)]
    [InlineData("ftp://oversight.example", false, "http:// or https://")]
    public void PlainText_ToAnotherHostThanLoopback_IsRefusedUnlessAllowed(string address, bool allowInsecure, string? error)
    {
        var result = new OversightClientOptionsValidator().Validate(null, new OversightClientOptions { Address = new Uri(address), AllowInsecureTransport = allowInsecure });

        if (error is null)
        {
            Assert.True(result.Succeeded, result.FailureMessage);
        }
        else
        {
            Assert.Contains(error, result.FailureMessage);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(6)]
    public void RetryAttempts_OutsideOneToFive_AreRefused(int attempts)
    {
        var result = new OversightClientOptionsValidator().Validate(null, new OversightClientOptions
        {
            Address = new Uri("http://127.0.0.1:7400"),
            Retry = new OversightRetryOptions { MaxAttempts = attempts },
        });

        Assert.Contains("Retry:MaxAttempts", result.FailureMessage);
    }

    [Fact]
    public async Task TokenFile_IsReadAgainWhenItChanges()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, "first\n");
            using var services = Build(new() { ["Oversight:Client:Address"] = "http://127.0.0.1:7400", ["Oversight:Client:TokenFile"] = file });
            var tokens = services.GetRequiredService<IOversightTokenProvider>();
            Assert.Equal("first", await tokens.GetTokenAsync(CancellationToken.None));

            await File.WriteAllTextAsync(file, "second");
            File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(1));
            Assert.Equal("second", await tokens.GetTokenAsync(CancellationToken.None));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task ARegisteredTokenProvider_ReplacesTheConfiguredOne()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IOversightTokenProvider>(new FixedTokens("from-my-identity-provider"));
        services.AddOversightClient(options => options.Address = new Uri("http://127.0.0.1:7400"));
        using var provider = services.BuildServiceProvider();

        Assert.Equal("from-my-identity-provider", await provider.GetRequiredService<IOversightTokenProvider>().GetTokenAsync(CancellationToken.None));
    }

    internal static ServiceProvider Build(Dictionary<string, string?> settings) =>
        new ServiceCollection()
            .AddOversightClient(new ConfigurationBuilder().AddInMemoryCollection(settings).Build())
            .BuildServiceProvider();

    private sealed class FixedTokens(string token) : IOversightTokenProvider
    {
        public ValueTask<string?> GetTokenAsync(CancellationToken cancellationToken) => ValueTask.FromResult<string?>(token);
    }
}
