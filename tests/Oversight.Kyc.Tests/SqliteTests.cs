using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Oversight.Hosting.Auth;
using Oversight.Hosting.Clock;
using Oversight.Kyc.Accounts;
using Oversight.Kyc.Data;
using Oversight.Kyc.Secrets;
using Oversight.Kyc.V1;
using Oversight.Kyc.Verification;
using Oversight.Testing;

namespace Oversight.Kyc.Tests;

/// <summary>The embedded default: SQLite in the data folder, development secrets, the simulated provider.</summary>
public class SqliteTests
{
    [Fact]
    public async Task EmbeddedDefault_OnSqlite_CreatesStatesPurposeAndVerifiesIdentity()
    {
        var data = Path.Combine(Path.GetTempPath(), "oversight-kyc-tests", Guid.NewGuid().ToString("N"));
        await using var host = await ServiceHost.StartAsync(new Dictionary<string, string?>(), b => b.AddKyc(), a => a.MapKyc(), data);
        var client = new KycTiering.KycTieringClient(host.Channel);
        var marketplace = TestServers.UniqueId("mkt");
        var op = host.Auth(Roles.Operator, marketplace);

        var account = (await client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace }, op)).Account;
        await client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = account.AccountId, Category = PurposeCategory.Research, Text = "sqlite" }, op);
        var session = await client.StartIdentityVerificationAsync(new StartIdentityVerificationRequest { MarketplaceId = marketplace, AccountId = account.AccountId }, op);
        var secrets = DevelopmentSecrets.LoadOrCreate(data);
        var now = DateTimeOffset.UtcNow;
        var signed = SimulatedIdentityProvider.CreateSignedResult(secrets.SimulatedSecretId, secrets.SimulatedSecret,
            new VerificationPayload.Document("evt-1", session.SessionRef, "approved", "substantial", now.ToString("O"), "D123"), now);
        var result = await client.SubmitVerificationResultAsync(KycHostFixture.ToRequest(signed));
        var older = SimulatedIdentityProvider.CreateSignedResult(secrets.SimulatedSecretId, secrets.SimulatedSecret,
            new VerificationPayload.Document("evt-0", session.SessionRef, "pending", null, now.AddMinutes(-1).ToString("O"), null), now);
        var olderResult = await client.SubmitVerificationResultAsync(KycHostFixture.ToRequest(older));

        Assert.True(result.Applied);
        Assert.False(olderResult.Applied);
        var read = (await client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = account.AccountId }, op)).Account;
        Assert.Equal("identity_verified", read.Tier.Id);
        Assert.Equal(["created", "purpose stated", "identity verified"], read.History.Select(h => h.Reason));
        Assert.True(File.Exists(Path.Combine(data, "kyc.db")));
    }

    [Fact]
    public async Task A_write_the_database_refuses_is_logged_by_EF_as_a_warning_for_its_caller_to_handle_not_as_an_error()
    {
        var data = Path.Combine(Path.GetTempPath(), "oversight-kyc-tests", Guid.NewGuid().ToString("N"));
        var logs = new CapturingLoggerProvider();
        await using var host = await ServiceHost.StartAsync(new Dictionary<string, string?>(), b => b.AddKyc(), a => a.MapKyc(), data, services =>
        {
            services.RemoveAll<ILoggerProvider>();
            services.AddSingleton<ILoggerProvider>(logs);
        });
        var marketplace = TestServers.UniqueId("mkt");
        await new KycTiering.KycTieringClient(host.Channel).CreateAccountAsync(
            new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "taken" }, host.Auth(Roles.Operator, marketplace));

        // What a writer that lost a race does: insert a row another writer inserted first.
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<KycDbContext>();
            db.Accounts.Add(new AccountRecord { MarketplaceId = marketplace, AccountId = "taken", TierId = "anonymous", ClusterRoot = "taken" });
            await Assert.ThrowsAsync<DbUpdateException>(() => db.SaveChangesAsync());
        }

        var efEntries = logs.Entries.Where(e => e.Contains(" Microsoft.EntityFrameworkCore.", StringComparison.Ordinal)).ToList();
        Assert.Contains(efEntries, e => e.StartsWith("Warning Microsoft.EntityFrameworkCore.Database.Command", StringComparison.Ordinal));
        Assert.DoesNotContain(efEntries, e => e.StartsWith("Error ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EmbeddedDefault_OnSqlite_ExpiresLinksIssuesTokensAndErases()
    {
        var data = Path.Combine(Path.GetTempPath(), "oversight-kyc-tests", Guid.NewGuid().ToString("N"));
        var settings = new Dictionary<string, string?> { ["Oversight:Simulation:Enabled"] = "true" };
        await using var host = await ServiceHost.StartAsync(settings, b => b.AddKyc(), a => a.MapKyc(), data);
        var client = new KycTiering.KycTieringClient(host.Channel);
        var marketplace = TestServers.UniqueId("mkt");
        var op = host.Auth(Roles.Operator, marketplace);
        var clock = host.Services.GetRequiredService<SimulatedTimeProvider>();
        var now = Results.Seconds(clock.GetUtcNow());
        await client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "s1" }, op);
        await client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "s2" }, op);
        var session = await client.StartIdentityVerificationAsync(new StartIdentityVerificationRequest { MarketplaceId = marketplace, AccountId = "s1" }, op);
        var secrets = DevelopmentSecrets.LoadOrCreate(data);
        var signed = SimulatedIdentityProvider.CreateSignedResult(secrets.SimulatedSecretId, secrets.SimulatedSecret,
            Results.Identity(session.SessionRef, "e", "approved", now.AddDays(-365).AddSeconds(5)), now);
        Assert.Equal("identity_verified", (await client.SubmitVerificationResultAsync(KycHostFixture.ToRequest(signed))).Tier.Id);

        var linked = await client.LinkAccountsAsync(new LinkAccountsRequest { MarketplaceId = marketplace, AccountIds = { "s2", "s1" }, Reason = "r" }, op);
        var token = await client.IssueTierTokenAsync(new IssueTierTokenRequest { MarketplaceId = marketplace, AccountId = "s1", Audience = "p" }, op);
        Assert.True(clock.TrySet(now.AddSeconds(6)));
        await host.Services.GetRequiredService<VerificationExpiryService>().SweepAsync(CancellationToken.None);
        await client.EraseAccountAsync(new EraseAccountRequest { MarketplaceId = marketplace, AccountId = "s2", Reason = "r" }, host.Auth(Roles.Compliance, marketplace));

        Assert.Equal("s1", linked.ClusterRoot);
        Assert.StartsWith("dev-", token.KeyId, StringComparison.Ordinal);
        var s1 = (await client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "s1" }, op)).Account;
        Assert.Equal(("anonymous", "verification expired"), (s1.Tier.Id, s1.History.Last().Reason));
        Assert.True((await client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "s2" }, op)).Account.Erased);
    }
}
