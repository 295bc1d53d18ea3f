using Oversight.Hosting.Auth;
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
}
