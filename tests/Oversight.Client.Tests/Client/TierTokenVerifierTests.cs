using System.Security.Cryptography;
using System.Text.Json;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Oversight.Client;
using Oversight.Kyc.V1;

namespace Oversight.Client.Tests.Client;

/// <summary>
/// Tier tokens as KYC issues them (docs/kyc.md: ES256, kid, claims sub, tier, tier_level,
/// requirement, purpose_category, aud, iat, exp; no issuer), made here with a key of the test's own.
/// </summary>
public sealed class TierTokenVerifierTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    [Fact]
    public async Task AValidToken_GivesItsClaims()
    {
        var verifier = new TierTokenVerifier(Jwks(_key, "kyc-1"), clock: new FixedClock(Now));

        var result = await verifier.VerifyAsync(Token(_key, "kyc-1", "prov-7", Now.AddMinutes(5)), "prov-7");

        Assert.True(result.IsValid, result.Error);
        Assert.Equal(new TierTokenClaims("acct-1", "stated_purpose", 1, "STATED_PURPOSE", "RESEARCH", "prov-7", Now.AddMinutes(5), "kyc-1"), result.Claims);
    }

    [Fact]
    public async Task AnotherAudience_AnExpiredToken_AnotherKey_OrNoSignature_AreRefused()
    {
        var verifier = new TierTokenVerifier(Jwks(_key, "kyc-1"), clockSkew: TimeSpan.FromSeconds(30), clock: new FixedClock(Now));
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        Assert.False((await verifier.VerifyAsync(Token(_key, "kyc-1", "prov-7", Now.AddMinutes(5)), "prov-8")).IsValid);
        Assert.False((await verifier.VerifyAsync(Token(_key, "kyc-1", "prov-7", Now.AddSeconds(-31)), "prov-7")).IsValid);
        Assert.True((await verifier.VerifyAsync(Token(_key, "kyc-1", "prov-7", Now.AddSeconds(-29)), "prov-7")).IsValid);
        Assert.False((await verifier.VerifyAsync(Token(other, "kyc-1", "prov-7", Now.AddMinutes(5)), "prov-7")).IsValid);
        var unsigned = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Audience = "prov-7",
            Expires = Now.AddMinutes(5).UtcDateTime,
            IssuedAt = Now.UtcDateTime,
            NotBefore = Now.UtcDateTime,
            Claims = new Dictionary<string, object> { ["sub"] = "acct-1", ["tier"] = "organisation_verified", ["tier_level"] = 3, ["requirement"] = "ORGANISATION" },
        });
        Assert.False((await verifier.VerifyAsync(unsigned, "prov-7")).IsValid);
        Assert.False((await verifier.VerifyAsync("not a token", "prov-7")).IsValid);
    }

    [Fact]
    public void AKeyIdOutsideTheSet_IsReportedSoTheSetCanBeFetchedAgain()
    {
        var verifier = new TierTokenVerifier(Jwks(_key, "kyc-1"));

        Assert.False(verifier.HasUnknownKey(Token(_key, "kyc-1", "p", Now)));
        Assert.True(verifier.HasUnknownKey(Token(_key, "kyc-2", "p", Now)));
    }

    [Fact]
    public async Task AnUnknownKeyId_FetchesTheKeySetAgain_ButAtMostEvery30Seconds()
    {
        using var rotated = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var clock = new ManualClock(Now);
        var kyc = new FakeKyc(Jwks(_key, "kyc-1"));
        using var services = new ServiceCollection().AddOversightClient(o => o.Address = new Uri("http://127.0.0.1:7400")).BuildServiceProvider();
        using var keys = new KeyCache(services.GetRequiredService<IOptionsMonitor<OversightClientOptions>>(), clock);
        var client = new OversightClient(kyc, null!, null!, keys, clock);
        var token = Token(rotated, "kyc-2", "prov-7", Now.AddMinutes(5));

        // KYC rotated to kyc-2 after the set was fetched: a token by kyc-2 is unknown, and the set was just fetched.
        Assert.False((await client.VerifyTierTokenAsync(token, "prov-7")).IsValid);
        Assert.False((await client.VerifyTierTokenAsync(token, "prov-7")).IsValid);
        Assert.Equal(1, kyc.Calls);

        kyc.Jwks = Jwks(rotated, "kyc-2");
        clock.Now = Now.AddSeconds(31);
        Assert.True((await client.VerifyTierTokenAsync(token, "prov-7")).IsValid);
        Assert.Equal(2, kyc.Calls);
    }

    private static string Token(ECDsa key, string keyId, string audience, DateTimeOffset expires) =>
        new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Audience = audience,
            IssuedAt = expires.AddMinutes(-5).UtcDateTime,
            Expires = expires.UtcDateTime,
            Claims = new Dictionary<string, object>
            {
                ["sub"] = "acct-1",
                ["tier"] = "stated_purpose",
                ["tier_level"] = 1,
                ["requirement"] = "STATED_PURPOSE",
                ["purpose_category"] = "RESEARCH",
            },
            SigningCredentials = new SigningCredentials(new ECDsaSecurityKey(key) { KeyId = keyId }, SecurityAlgorithms.EcdsaSha256),
        });

    private static string Jwks(ECDsa key, string keyId)
    {
        var parameters = key.ExportParameters(false);
        return JsonSerializer.Serialize(new
        {
            keys = new[]
            {
                new Dictionary<string, string>
                {
                    ["kty"] = "EC", ["crv"] = "P-256", ["kid"] = keyId, ["use"] = "sig", ["alg"] = "ES256",
                    ["x"] = Base64UrlEncoder.Encode(parameters.Q.X!), ["y"] = Base64UrlEncoder.Encode(parameters.Q.Y!),
                },
            },
        });
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    /// <summary>KYC's GetTierTokenKeys, counted.</summary>
    private sealed class FakeKyc(string jwks) : KycTiering.KycTieringClient
    {
        public string Jwks { get; set; } = jwks;

        public int Calls { get; private set; }

        public override AsyncUnaryCall<GetTierTokenKeysResponse> GetTierTokenKeysAsync(GetTierTokenKeysRequest request, CallOptions options)
        {
            Calls++;
            return new AsyncUnaryCall<GetTierTokenKeysResponse>(
                Task.FromResult(new GetTierTokenKeysResponse { JwksJson = Jwks }), Task.FromResult(new Metadata()),
                () => Status.DefaultSuccess, () => [], () => { });
        }
    }
}
