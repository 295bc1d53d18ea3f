using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using Oversight.Attestation.V1;
using Oversight.Hosting.Auth;
using Oversight.Kyc.V1;
using Oversight.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Oversight.IntegrationTests.Security;

/// <summary>Marketplaces A (the deployment's) and B, each with an account, providers, an attestation and a reservation.</summary>
public sealed class IsolationFixture : SecurityFixture
{
    public Tenant A { get; private set; } = null!;
    public Tenant B { get; private set; } = null!;

    protected override async Task SetUpAsync()
    {
        var a = Tenant.CreateAsync(this, MarketplaceA);
        var b = Tenant.CreateAsync(this, TestServers.UniqueId("m"));
        (A, B) = (await a, await b);
    }
}

/// <summary>
/// Issue 3, item 5: every implemented RPC refuses a caller of another marketplace and every role
/// it does not allow, asks for a token where one is needed, and never answers with another
/// marketplace's data; health, reflection and public keys need no token.
/// </summary>
public sealed class TenantIsolationTests(IsolationFixture fixture, ITestOutputHelper output) : IClassFixture<IsolationFixture>
{
    /// <summary>
    /// Where a service is known to be wrong today (check key -> what happens). Each still runs and
    /// must still fail; a fix makes the test fail until the entry is removed.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> KnownGaps = new Dictionary<string, string>
    {
    };

    private static readonly string[] StreamRefusals = ["PERMISSION_DENIED", "PROVIDER_UNKNOWN"];

    public static TheoryData<string> Rows => new(IsolationTable.Rows.Select(r => r.Name));

    public static TheoryData<string> ProviderRows => new(IsolationTable.Rows.Where(r => r.Access == Access.Marketplace && r.Roles.Contains(Roles.Provider)).Select(r => r.Name));

    private Tenant A => fixture.A;
    private Tenant B => fixture.B;

    [Fact]
    public void EveryImplementedRpc_HasAnIsolationRow()
    {
        var rows = IsolationTable.Rows.Select(r => r.Name).ToHashSet();
        foreach (var method in SecurityFixture.AllMethods)
        {
            output.WriteLine($"{RpcCall.NameOf(method),-52} probe: {fixture.Probes[RpcCall.NameOf(method)].Code,-16} row: {(rows.Contains(RpcCall.NameOf(method)) ? "yes" : "no")}");
        }

        var missing = fixture.Implemented.Select(RpcCall.NameOf).Where(name => !rows.Contains(name)).ToList();
        Assert.True(missing.Count == 0, $"Implemented RPCs without an isolation row in IsolationTable: {string.Join(", ", missing)}");
        foreach (var row in IsolationTable.Rows.Where(r => r.Access != Access.Public && !fixture.IsImplemented(r.Method)))
        {
            output.WriteLine($"{row.Name} has a row but answers UNIMPLEMENTED: its checks apply once it is written.");
        }

        Assert.Equal(IsolationTable.Rows.Count, rows.Count);
    }

    /// <summary>(a) A token for marketplace B, with a role the RPC allows, gets PERMISSION_DENIED or NOT_FOUND and none of A's data.</summary>
    [Theory]
    [MemberData(nameof(Rows))]
    public async Task AnotherMarketplacesToken_IsRefused_AndSeesNoneOfItsData(string rpc)
    {
        var row = IsolationTable.Row(rpc);
        if (!Implemented(row))
        {
            return;
        }

        switch (row.Access)
        {
            case Access.Marketplace:
                foreach (var role in row.Roles.Where(r => r != Roles.Service))
                {
                    // The token differs from A's only by its marketplace: a provider keeps A's provider id.
                    var token = fixture.As(role, B.Marketplace, role == Roles.Provider ? A.ProviderId : null);
                    await Check($"{rpc}/other-marketplace/{role}", () => ExpectRefusedAsync(row, row.Request(A), token, $"{role} of B on A's request"));
                    if (row.SameIdsInOtherMarketplace)
                    {
                        var inB = IsolationTable.InMarketplace(row.Request(A), B.Marketplace);
                        await Check($"{rpc}/a-ids-in-b/{role}", () => ExpectRefusedAsync(row, inB, token, $"{role} of B asking for A's ids under marketplace B"));
                    }
                }

                break;
            case Access.Global or Access.Public:
                // Not about one marketplace: B may call it, but the answer holds nothing of A's.
                foreach (var role in row.Roles.DefaultIfEmpty(Roles.Operator))
                {
                    await Check($"{rpc}/other-marketplace/{role}", async () =>
                    {
                        foreach (var outcome in await CallAsync(row, row.Request(A), fixture.As(role, B.Marketplace, role == Roles.Provider ? B.ProviderId : null)))
                        {
                            output.WriteLine($"{rpc} as {role} of B: {outcome}");
                            AssertNothingOf(A, outcome, includeIds: true, $"{role} of B");
                        }
                    });
                }

                break;
            case Access.Callback:
                // A token of any marketplace does not stand in for the provider's HMAC.
                await Check($"{rpc}/other-marketplace", () => ExpectStatusAsync(row, BadlySigned(row), fixture.As(Roles.Operator, B.Marketplace), StatusCode.Unauthenticated));
                break;
        }
    }

    /// <summary>(a, providers) A provider's token for another provider of the same marketplace is refused too.</summary>
    [Theory]
    [MemberData(nameof(ProviderRows))]
    public async Task AnotherProvidersToken_IsRefused(string rpc)
    {
        var row = IsolationTable.Row(rpc);
        if (!Implemented(row))
        {
            return;
        }

        var token = fixture.As(Roles.Provider, A.Marketplace, A.KeysProviderId);
        await Check($"{rpc}/other-provider", () => ExpectRefusedAsync(row, row.Request(A), token, "the other provider of A"));
    }

    /// <summary>(b) Each role the RPC does not allow, in A's own marketplace, gets PERMISSION_DENIED.</summary>
    [Theory]
    [MemberData(nameof(Rows))]
    public async Task DisallowedRole_IsPermissionDenied(string rpc)
    {
        var row = IsolationTable.Row(rpc);
        if (!Implemented(row))
        {
            return;
        }

        foreach (var role in Roles.All)
        {
            var token = fixture.As(role, A.Marketplace, role == Roles.Provider ? A.ProviderId : null);
            switch (row.Access)
            {
                case Access.Marketplace or Access.Global when !row.Roles.Contains(role):
                    await Check($"{rpc}/role/{role}", () => ExpectStatusAsync(row, row.Request(A), token, StatusCode.PermissionDenied));
                    break;
                case Access.Public:
                    // No role is needed, and none is refused.
                    await Check($"{rpc}/role/{role}", () => ExpectReachableAsync(row, token));
                    break;
                case Access.Callback:
                    await Check($"{rpc}/role/{role}", () => ExpectStatusAsync(row, BadlySigned(row), token, StatusCode.Unauthenticated));
                    break;
            }
        }

        output.WriteLine($"{rpc}: {row.Access}, allowed: {(row.Roles.Count == 0 ? "no token needed" : string.Join(", ", row.Roles))}");
    }

    /// <summary>(c) Without a token: UNAUTHENTICATED, except the public RPCs; a callback needs its HMAC instead.</summary>
    [Theory]
    [MemberData(nameof(Rows))]
    public async Task NoToken_IsUnauthenticated_ExceptPublicRpcs(string rpc)
    {
        var row = IsolationTable.Row(rpc);
        if (!Implemented(row))
        {
            return;
        }

        switch (row.Access)
        {
            case Access.Marketplace or Access.Global:
                await Check($"{rpc}/no-token", () => ExpectStatusAsync(row, row.Request(A), null, StatusCode.Unauthenticated));
                // A token signed by a key the hosts do not trust is no token, whatever its claims.
                await Check($"{rpc}/untrusted-token", () => ExpectStatusAsync(row, row.Request(A), Forged(row.Roles.FirstOrDefault() ?? Roles.Admin), StatusCode.Unauthenticated));
                break;
            case Access.Public:
                await Check($"{rpc}/no-token", () => ExpectReachableAsync(row, null));
                break;
            case Access.Callback:
                await Check($"{rpc}/no-token", async () =>
                {
                    await ExpectStatusAsync(row, BadlySigned(row), null, StatusCode.Unauthenticated);
                    await ExpectStatusAsync(row, row.Request(A), null, StatusCode.OK);
                });
                break;
        }
    }

    /// <summary>(d) Health, reflection and the public signing keys answer without a token on every host.</summary>
    [Fact]
    public async Task HealthReflectionAndPublicKeys_NeedNoToken()
    {
        foreach (var (host, channel, service) in new[]
                 {
                     ("kyc", fixture.Deployment.Kyc.Channel, KycTiering.Descriptor.FullName),
                     ("attestation", fixture.Deployment.Attestation.Channel, WorkloadAttestation.Descriptor.FullName),
                     ("enforcement", fixture.Deployment.Enforcement.Channel, Enforcement.V1.ThresholdEnforcement.Descriptor.FullName),
                 })
        {
            var health = new Health.HealthClient(channel);
            foreach (var name in new[] { "", service })
            {
                var reply = await health.CheckAsync(new HealthCheckRequest { Service = name });
                Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
            }

            using var call = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo();
            await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
            await call.RequestStream.CompleteAsync();
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            var listed = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
            Assert.Contains(service, listed);
            Assert.Contains("grpc.health.v1.Health", listed);
            Assert.Contains(Common.V1.SimulationClock.Descriptor.FullName, listed);
            output.WriteLine($"{host}: health SERVING, reflection lists {string.Join(", ", listed)}");
        }

        var key = await fixture.Target.Attestation.GetLogPublicKeyAsync(new GetLogPublicKeyRequest());
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", key.PublicKeyPem);
        var checkpoint = await fixture.Target.Attestation.GetCheckpointAsync(new GetCheckpointRequest());
        Assert.True(checkpoint.TreeSize >= 2);
        Assert.StartsWith(checkpoint.Origin + "\n", checkpoint.Note);

        await Check("KycTiering.GetTierTokenKeys/no-token", () => ExpectReachableAsync(IsolationTable.Row("KycTiering.GetTierTokenKeys"), null));
        if (fixture.IsImplemented(IsolationTable.Row("KycTiering.GetTierTokenKeys").Method))
        {
            var jwks = await fixture.Target.Kyc.GetTierTokenKeysAsync(new GetTierTokenKeysRequest());
            Assert.Contains("\"keys\"", jwks.JwksJson);
            output.WriteLine("GetTierTokenKeys without a token: " + jwks.JwksJson);
        }
    }

    /// <summary>B's own listings (its export and review items) hold nothing of A's.</summary>
    [Fact]
    public async Task ListingsOfAnotherMarketplace_HoldNothingOfIt()
    {
        foreach (var (rpc, role, holds) in new[]
                 {
                     ("WorkloadAttestation.ExportAttestations", Roles.Auditor, B.AttestationId),
                     ("WorkloadAttestation.ListReviewItems", Roles.Auditor, B.AttestationId),
                     ("WorkloadAttestation.ListReviewItems", Roles.Compliance, B.AttestationId),
                     ("KycTiering.ListAuditEvents", Roles.Auditor, B.AccountId),
                     ("KycTiering.ListAuditEvents", Roles.Compliance, B.AccountId),
                 })
        {
            var row = IsolationTable.Row(rpc);
            if (!Implemented(row))
            {
                continue;
            }

            var outcome = (await CallAsync(row, row.Request(B), fixture.As(role, B.Marketplace))).Single();
            Assert.Equal(StatusCode.OK, outcome.Code);
            Assert.NotEmpty(outcome.Responses);
            AssertNothingOf(A, outcome, includeIds: true, $"{rpc} of B as {role}");
            Assert.Contains(holds, outcome.Everything());
        }
    }

    [Fact]
    public void KnownGaps_AreListed()
    {
        foreach (var (key, description) in KnownGaps)
        {
            output.WriteLine($"{key}: {description}");
        }

        Assert.All(KnownGaps.Keys, key => Assert.Contains(IsolationTable.Rows, r => key.StartsWith(r.Name + "/", StringComparison.Ordinal)));
    }

    /// <summary>
    /// False for a row whose method is not written yet: not a silent pass, the method must really
    /// answer UNIMPLEMENTED (public ones are checked as they are: they must be reachable).
    /// </summary>
    private bool Implemented(IsolationRow row)
    {
        if (row.Access == Access.Public || fixture.IsImplemented(row.Method))
        {
            return true;
        }

        Assert.Equal(StatusCode.Unimplemented, fixture.Probes[row.Name].Code);
        output.WriteLine($"{row.Name} is not implemented yet; its checks apply once it is.");
        return false;
    }

    private Task Check(string key, Func<Task> check) => Security.KnownGaps.CheckAsync(KnownGaps, key, check, output);

    /// <summary>The call on every host that serves the method.</summary>
    private async Task<IReadOnlyList<RpcOutcome>> CallAsync(IsolationRow row, IMessage request, Metadata? headers)
    {
        var outcomes = new List<RpcOutcome>();
        foreach (var (_, invoker) in fixture.HostsOf(row.Method.Service))
        {
            outcomes.Add(await RpcCall.InvokeAsync(invoker, row.Method, [request], headers));
        }

        return outcomes;
    }

    private async Task ExpectRefusedAsync(IsolationRow row, IMessage request, Metadata headers, string who)
    {
        foreach (var outcome in await CallAsync(row, request, headers))
        {
            output.WriteLine($"{row.Name} as {who}: {outcome}");
            var refused = outcome.Code is StatusCode.PermissionDenied or StatusCode.NotFound
                // The stream answers a refused item with a REJECTED receipt, not a failed call.
                || (outcome.Code == StatusCode.OK && row.Method.IsClientStreaming && outcome.Responses.Count > 0 &&
                    outcome.Responses.Cast<SubmitAttestationResponse>().All(r =>
                        r.Receipt.Outcome == Outcome.Rejected && StreamRefusals.Contains(r.Receipt.ReasonCodes.FirstOrDefault())));
            Assert.True(refused, $"{row.Name} as {who}: expected PERMISSION_DENIED or NOT_FOUND, got {outcome}");
            AssertNothingOf(A, outcome, includeIds: false, who);
        }
    }

    private async Task ExpectStatusAsync(IsolationRow row, IMessage request, Metadata? headers, StatusCode expected)
    {
        foreach (var outcome in await CallAsync(row, request, headers))
        {
            output.WriteLine($"{row.Name}{(headers is null ? " without a token" : "")}: {outcome}");
            Assert.True(outcome.Code == expected, $"{row.Name}: expected {expected}, got {outcome}");
        }
    }

    /// <summary>Public: the call reaches the method (an answer, or UNIMPLEMENTED while it is not written), never UNAUTHENTICATED or PERMISSION_DENIED.</summary>
    private async Task ExpectReachableAsync(IsolationRow row, Metadata? headers)
    {
        foreach (var outcome in await CallAsync(row, row.Request(A), headers))
        {
            output.WriteLine($"{row.Name} {(headers is null ? "without a token" : "with a token")}: {outcome}");
            Assert.True(outcome.Code is StatusCode.OK or StatusCode.Unimplemented,
                $"{row.Name} is public (DESIGN.md, Security) but answered {outcome}");
        }
    }

    private static void AssertNothingOf(Tenant tenant, RpcOutcome outcome, bool includeIds, string who)
    {
        var text = outcome.Everything();
        foreach (var secret in includeIds ? tenant.Secrets.Concat(tenant.Ids) : tenant.Secrets)
        {
            Assert.False(!string.IsNullOrEmpty(secret) && text.Contains(secret, StringComparison.Ordinal),
                $"The answer to {who} carries data of marketplace {tenant.Marketplace} ('{secret}'): {text}");
        }
    }

    /// <summary>A well-formed token for A, with the right issuer and audience, signed by another key.</summary>
    private Metadata Forged(string role)
    {
        var directory = Directory.CreateTempSubdirectory("oversight-forged-");
        try
        {
            var token = DevelopmentSigningKey.LoadOrCreate(directory.FullName)
                .CreateToken("oversight", role, A.Marketplace, role == Roles.Provider ? A.ProviderId : null, "forger", TimeSpan.FromHours(1), DateTimeOffset.UtcNow);
            return new Metadata { { "Authorization", "Bearer " + token } };
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>A's valid callback with a signature that is not the HMAC of its payload.</summary>
    private SubmitVerificationResultRequest BadlySigned(IsolationRow row)
    {
        var request = (SubmitVerificationResultRequest)row.Request(A);
        request.Signature = new string('0', 64);
        return request;
    }
}
