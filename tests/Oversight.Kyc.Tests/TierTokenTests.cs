using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using Oversight.Hosting.Auth;
using Oversight.Kyc.Tokens;
using Oversight.Kyc.V1;
using Oversight.Testing;

namespace Oversight.Kyc.Tests;

/// <summary>Tier tokens (issue 4, item 6), checked with Node's jose, which shares no code with the service.</summary>
public class TierTokenTests(KycHostFixture fixture) : IClassFixture<KycHostFixture>
{
    private KycTiering.KycTieringClient Client => fixture.Client;

    private static JsonObject Part(string token, int index) =>
        JsonNode.Parse(Encoding.UTF8.GetString(Base64UrlEncoder.DecodeBytes(token.Split('.')[index])))!.AsObject();

    private async Task<(string Marketplace, Metadata Operator)> StatedAsync(string accountId)
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, accountId);
        await Client.StatePurposeAsync(new StatePurposeRequest { MarketplaceId = marketplace, AccountId = accountId, Category = PurposeCategory.Research, Text = "protein folding" }, op);
        return (marketplace, op);
    }

    [Fact]
    public async Task IssueTierToken_CarriesOnlyTheTierClaims_AndVerifiesWithJose()
    {
        var (marketplace, op) = await StatedAsync("tok");

        var issued = await Client.IssueTierTokenAsync(new IssueTierTokenRequest { MarketplaceId = marketplace, AccountId = "tok", Audience = "provider-7" }, op);

        var header = Part(issued.Token, 0);
        var payload = Part(issued.Token, 1);
        Assert.Equal(["alg", "kid", "typ"], header.Select(p => p.Key).Order());
        Assert.Equal(("ES256", issued.KeyId), (header["alg"]!.GetValue<string>(), header["kid"]!.GetValue<string>()));
        Assert.Equal(["aud", "exp", "iat", "purpose_category", "requirement", "sub", "tier", "tier_level"], payload.Select(p => p.Key).Order());
        Assert.Equal(("tok", "stated_purpose", 1, "STATED_PURPOSE", "RESEARCH", "provider-7"),
            (payload["sub"]!.GetValue<string>(), payload["tier"]!.GetValue<string>(), payload["tier_level"]!.GetValue<int>(),
             payload["requirement"]!.GetValue<string>(), payload["purpose_category"]!.GetValue<string>(), payload["aud"]!.GetValue<string>()));
        Assert.Equal(300, payload["exp"]!.GetValue<long>() - payload["iat"]!.GetValue<long>());
        Assert.Equal(payload["exp"]!.GetValue<long>(), issued.ExpiresAt.Seconds);

        var jwks = (await Client.GetTierTokenKeysAsync(new GetTierTokenKeysRequest())).JwksJson;
        Assert.DoesNotContain("\"d\"", jwks, StringComparison.Ordinal);
        var parts = issued.Token.Split('.');
        var otherPayload = (JsonObject)payload.DeepClone();
        otherPayload["tier"] = "organisation_verified";
        var tampered = $"{parts[0]}.{Base64UrlEncoder.Encode(otherPayload.ToJsonString())}.{parts[2]}";
        var expiry = DateTimeOffset.FromUnixTimeSeconds(payload["exp"]!.GetValue<long>());

        var results = await JoseVerifier.VerifyAsync(jwks,
            new JoseVerifier.Check(issued.Token, "provider-7"),
            new JoseVerifier.Check(tampered, "provider-7"),
            new JoseVerifier.Check(issued.Token, "provider-7", expiry.AddSeconds(1)),
            new JoseVerifier.Check(issued.Token, "provider-8"));

        Assert.True(results[0].Ok, results[0].Code);
        Assert.Equal(("tok", "stated_purpose"), (results[0].Payload!["sub"]!.GetValue<string>(), results[0].Payload!["tier"]!.GetValue<string>()));
        Assert.Equal(issued.KeyId, results[0].Header!["kid"]!.GetValue<string>());
        Assert.Equal((false, "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"), (results[1].Ok, results[1].Code));
        Assert.Equal((false, "ERR_JWT_EXPIRED"), (results[2].Ok, results[2].Code));
        Assert.Equal((false, "ERR_JWT_CLAIM_VALIDATION_FAILED"), (results[3].Ok, results[3].Code));
    }

    [Fact]
    public async Task IssueTierToken_TtlIsCappedAndAnonymousTokensHaveNoPurpose()
    {
        var (marketplace, op) = fixture.NewMarketplace();
        await fixture.CreateAsync(marketplace, op, "anon");

        var capped = await Client.IssueTierTokenAsync(new IssueTierTokenRequest { MarketplaceId = marketplace, AccountId = "anon", Audience = "https://provider.example/a", TtlSeconds = 86_400 }, op);
        var shorter = await Client.IssueTierTokenAsync(new IssueTierTokenRequest { MarketplaceId = marketplace, AccountId = "anon", Audience = "p", TtlSeconds = 30 }, op);

        var payload = Part(capped.Token, 1);
        Assert.Equal(300, payload["exp"]!.GetValue<long>() - payload["iat"]!.GetValue<long>());
        Assert.Equal(("anonymous", "NONE"), (payload["tier"]!.GetValue<string>(), payload["requirement"]!.GetValue<string>()));
        Assert.False(payload.ContainsKey("purpose_category"));
        var shortPayload = Part(shorter.Token, 1);
        Assert.Equal(30, shortPayload["exp"]!.GetValue<long>() - shortPayload["iat"]!.GetValue<long>());
    }

    [Fact]
    public async Task IssueTierToken_AfterTheVerificationExpired_StepsDownFirst()
    {
        var (marketplace, op) = await StatedAsync("late");
        // Valid for 3 more seconds (ValidityDays 365 from occurred_at).
        var approved = await fixture.ApproveIdentityAsync(marketplace, op, "late", null, DateTimeOffset.UtcNow.AddDays(-365).AddSeconds(3));
        Assert.Equal("identity_verified", approved.Tier.Id);
        await Task.Delay(TimeSpan.FromSeconds(4));

        var issued = await Client.IssueTierTokenAsync(new IssueTierTokenRequest { MarketplaceId = marketplace, AccountId = "late", Audience = "p" }, op);

        Assert.Equal("stated_purpose", Part(issued.Token, 1)["tier"]!.GetValue<string>());
        var account = await fixture.AccountAsync(marketplace, "late");
        Assert.Equal(("stated_purpose", "verification expired", "system"), (account.Tier.Id, account.History.Last().Reason, account.History.Last().Actor));
    }

    [Fact]
    public async Task IssueTierToken_WithBadInput_FailsPreciselyAndChangesNothing()
    {
        var (marketplace, op) = await StatedAsync("t");
        await fixture.CreateAsync(marketplace, op, "held");
        await Client.SuspendAccountAsync(new SuspendAccountRequest { MarketplaceId = marketplace, AccountId = "held", Reason = "case 3" }, fixture.Auth(Roles.Compliance, marketplace));
        var before = await fixture.CountRowsAsync();
        IssueTierTokenRequest Request(string account = "t", string audience = "p", int ttl = 0) =>
            new() { MarketplaceId = marketplace, AccountId = account, Audience = audience, TtlSeconds = ttl };

        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.IssueTierTokenAsync(Request(audience: ""), op), "audience");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.IssueTierTokenAsync(Request(audience: "has space"), op), "audience");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.IssueTierTokenAsync(Request(audience: new string('a', 257)), op), "audience");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.IssueTierTokenAsync(Request(ttl: -1), op), "ttl_seconds");
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Client.IssueTierTokenAsync(Request(account: "bad id"), op), "account_id");
        await RpcAssert.FailsAsync(StatusCode.NotFound, () => Client.IssueTierTokenAsync(Request(account: "ghost"), op), "ghost");
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, () => Client.IssueTierTokenAsync(Request(account: "held"), op), "suspended");
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.IssueTierTokenAsync(Request(), fixture.Auth(Roles.Provider, marketplace)));
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Client.IssueTierTokenAsync(Request(), fixture.Auth(Roles.Operator, "other-marketplace")));
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Client.IssueTierTokenAsync(Request()));

        Assert.Equal(before, await fixture.CountRowsAsync());
    }

    [Fact]
    public async Task Keys_RotateWithoutBreakingUnexpiredTokens_AndRetiredKeysLeaveTheJwksAfterTheirTokens()
    {
        using var old = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var next = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ancient = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var marketplace = TestServers.UniqueId("mkt");
        Dictionary<string, string?> Keys(params (string Id, string Pem, bool Current, DateTimeOffset? RetiredAt)[] keys)
        {
            var settings = new Dictionary<string, string?>();
            for (var i = 0; i < keys.Length; i++)
            {
                settings[$"Oversight:Kyc:TierTokens:SigningKeys:{i}:KeyId"] = keys[i].Id;
                settings[$"Oversight:Kyc:TierTokens:SigningKeys:{i}:Pem"] = keys[i].Pem;
                settings[$"Oversight:Kyc:TierTokens:SigningKeys:{i}:Current"] = keys[i].Current ? "true" : "false";
                settings[$"Oversight:Kyc:TierTokens:SigningKeys:{i}:RetiredAt"] = keys[i].RetiredAt?.ToString("O");
            }

            return settings;
        }

        async Task<(IssueTierTokenResponse Token, string Jwks)> IssueAsync(Dictionary<string, string?> keys)
        {
            var settings = new Dictionary<string, string?>(fixture.HostSettings);
            foreach (var (key, value) in keys)
            {
                settings[key] = value;
            }

            await using var host = await fixture.StartHostAsync(settings);
            var client = new KycTiering.KycTieringClient(host.Channel);
            var op = host.Auth(Roles.Operator, marketplace);
            if ((await Record.ExceptionAsync(() => client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "r" }, op).ResponseAsync)) is RpcException { StatusCode: not StatusCode.AlreadyExists } failure)
            {
                throw failure;
            }

            var token = await client.IssueTierTokenAsync(new IssueTierTokenRequest { MarketplaceId = marketplace, AccountId = "r", Audience = "p" }, op);
            return (token, (await client.GetTierTokenKeysAsync(new GetTierTokenKeysRequest())).JwksJson);
        }

        var before = await IssueAsync(Keys(("k-old", old.ExportPkcs8PrivateKeyPem(), true, null)));
        // Rotated: k-new signs; k-old stays (as its public key alone) until its tokens expire; k-ancient retired long ago.
        var after = await IssueAsync(Keys(
            ("k-new", next.ExportPkcs8PrivateKeyPem(), true, null),
            ("k-old", old.ExportSubjectPublicKeyInfoPem(), false, DateTimeOffset.UtcNow),
            ("k-ancient", ancient.ExportPkcs8PrivateKeyPem(), false, DateTimeOffset.UtcNow.AddDays(-1))));

        Assert.Equal(("k-old", "k-new"), (before.Token.KeyId, after.Token.KeyId));
        var kids = JsonNode.Parse(after.Jwks)!["keys"]!.AsArray().Select(k => k!["kid"]!.GetValue<string>()).ToList();
        Assert.Equal(["k-new", "k-old"], kids);
        var results = await JoseVerifier.VerifyAsync(after.Jwks,
            new JoseVerifier.Check(before.Token.Token, "p"),
            new JoseVerifier.Check(after.Token.Token, "p"));
        Assert.All(results, r => Assert.True(r.Ok, r.Code));
        // The old JWKS cannot verify the new key's token: verifiers must refresh it after a rotation.
        var stale = await JoseVerifier.VerifyAsync(before.Jwks, new JoseVerifier.Check(after.Token.Token, "p"));
        Assert.Equal("ERR_JWKS_NO_MATCHING_KEY", stale[0].Code);

        // Unless the new key was published first (docs/kyc.md): neither current nor retired, it is in
        // the JWKS and signs nothing, so a key set fetched then already verifies its later tokens.
        var published = await IssueAsync(Keys(
            ("k-old", old.ExportPkcs8PrivateKeyPem(), true, null),
            ("k-new", next.ExportSubjectPublicKeyInfoPem(), false, null)));
        Assert.Equal("k-old", published.Token.KeyId);
        var early = await JoseVerifier.VerifyAsync(published.Jwks, new JoseVerifier.Check(after.Token.Token, "p"));
        Assert.True(early[0].Ok, early[0].Code);
    }

    [Fact]
    public void Validator_RefusesMissingDuplicateOrUnusableKeys_NamingThem()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var validator = new TierTokenOptionsValidator();

        var empty = validator.Validate(null, new TierTokenOptions());
        var broken = validator.Validate(null, new TierTokenOptions
        {
            SigningKeys =
            {
                new TierTokenKeyOptions { KeyId = "a", Pem = key.ExportSubjectPublicKeyInfoPem(), Current = true },
                new TierTokenKeyOptions { KeyId = "a", Pem = "not a pem", Current = true },
                new TierTokenKeyOptions { KeyId = "", Pem = p384.ExportPkcs8PrivateKeyPem() },
            },
        });

        Assert.Contains("Oversight:Kyc:TierTokens:SigningKeys is required", empty.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("exactly one key with Current: true (found 2)", broken.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("SigningKeys:0:Pem is a public key", broken.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("SigningKeys:1:KeyId 'a' is used by more than one key", broken.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("SigningKeys:1:Pem is not a PEM EC P-256 key", broken.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("SigningKeys:2:KeyId is required", broken.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("SigningKeys:2:Pem is not a PEM EC P-256 key", broken.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void DevelopmentKey_IsGeneratedOnceIntoTheDataFolder()
    {
        var options = fixture.Host.Services.GetService(typeof(IOptions<TierTokenOptions>)) as IOptions<TierTokenOptions>;
        var key = Assert.Single(options!.Value.SigningKeys);

        Assert.StartsWith("dev-", key.KeyId, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(fixture.DataDirectory, DevelopmentTierTokenKey.FileName)));
        Assert.Equal(key.KeyId, DevelopmentTierTokenKey.LoadOrCreate(fixture.DataDirectory).KeyId);
    }
}
