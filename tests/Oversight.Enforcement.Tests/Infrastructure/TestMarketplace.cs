using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Enforcement.V1;
using Oversight.Kyc.V1;
using Oversight.Signing;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>
/// One test's marketplace on a deployment: its operator, provider hosts with their signing keys
/// (<see cref="Provider"/> unless a test names another), accounts, and the calls a marketplace
/// makes (Authorize, attestations, usage).
/// </summary>
public sealed class TestMarketplace(EnforcementDeployment deployment, string id)
{
    public const string Provider = "prov-1";
    public const string Model = "H100-SXM";

    private readonly Dictionary<string, ProviderHost> _providers = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _registration = new(1, 1);
    private int _leases;

    public string Id { get; } = id;
    public EnforcementDeployment Deployment { get; } = deployment;
    public Metadata Operator => Deployment.Auth("operator", Id);

    /// <summary>An account created in KYC (anonymous tier); enforcement may not know it yet.</summary>
    public async Task<string> CreateAccountAsync()
    {
        var accountId = "acct-" + Guid.NewGuid().ToString("N")[..12];
        await Deployment.KycClient.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = Id, AccountId = accountId }, Operator);
        return accountId;
    }

    /// <summary>
    /// An account created in KYC and known to enforcement: GetUsage confirms it with KYC and
    /// initialises its counters' tag (a rebuild from the, still empty, ledger) on every given host.
    /// </summary>
    public async Task<string> CreateKnownAccountAsync(params int[] hosts)
    {
        var accountId = await CreateAccountAsync();
        foreach (var host in hosts.Length == 0 ? [0] : hosts)
        {
            await UsageAsync(accountId, host);
        }

        return accountId;
    }

    public string NewLeaseId() => $"lease-{Interlocked.Increment(ref _leases)}-{Guid.NewGuid():N}"[..24];

    /// <summary>A request with the caller's own FLOP estimate (1 accelerator for a minute unless told).</summary>
    public AuthorizeRequest Request(string accountId, long flopUnits, string? leaseId = null, int count = 1, long seconds = 60, bool checkOnly = false) => new()
    {
        MarketplaceId = Id,
        AccountId = accountId,
        LeaseId = leaseId ?? NewLeaseId(),
        AcceleratorModel = Model,
        AcceleratorCount = count,
        DurationSeconds = seconds,
        Precision = PrecisionClass.Bf16,
        FlopUnits = flopUnits,
        CheckOnly = checkOnly,
    };

    public async Task<AuthorizeResponse> AuthorizeAsync(AuthorizeRequest request, int host = 0) =>
        await Deployment.EnforcementClient(host).AuthorizeAsync(request, Operator);

    public async Task<GetUsageResponse> UsageAsync(string accountId, int host = 0) =>
        await Deployment.EnforcementClient(host).GetUsageAsync(new GetUsageRequest { MarketplaceId = Id, AccountId = accountId }, Operator);

    /// <summary>Links the accounts in KYC (an operator's link) and waits until enforcement names the cluster's root for each.</summary>
    public async Task<string> LinkAsync(params string[] accountIds)
    {
        var linked = await Deployment.KycClient.LinkAccountsAsync(
            new LinkAccountsRequest { MarketplaceId = Id, AccountIds = { accountIds }, Reason = "same payment instrument" }, Operator);
        foreach (var accountId in accountIds)
        {
            await Eventually.TrueAsync(async () => (await UsageAsync(accountId)).ClusterRoot == linked.ClusterRoot, $"{accountId} in the cluster of {linked.ClusterRoot}");
        }

        return linked.ClusterRoot;
    }

    public static WindowUsage Window(GetUsageResponse usage, string window, Metric metric = Metric.FlopUnits) =>
        usage.Windows.Single(w => w.Window == window && w.Metric == metric);

    /// <summary>Registers a provider host (64 H100s, a key of its own) once.</summary>
    private async Task<ProviderHost> RegisterProviderAsync(string providerId)
    {
        await _registration.WaitAsync();
        try
        {
            if (_providers.TryGetValue(providerId, out var registered))
            {
                return registered;
            }

            var host = new ProviderHost(ECDsa.Create(ECCurve.NamedCurves.nistP256));
            await Deployment.AttestationClient.RegisterProviderAsync(new RegisterProviderRequest
            {
                MarketplaceId = Id,
                ProviderId = providerId,
                KeyId = "key-1",
                PublicKeyPem = host.Key.ExportSubjectPublicKeyInfoPem(),
                Inventory = { new AcceleratorInventory { AcceleratorModel = Model, Count = 64 } },
            }, Operator);
            _providers[providerId] = host;
            return host;
        }
        finally
        {
            _registration.Release();
        }
    }

    /// <summary>
    /// Signs and submits an attestation of <paramref name="flopUnits"/> for a lease (partial
    /// unless <paramref name="final"/>); returns its id. One H100 for an hour holds up to about
    /// 3.5 million units. The attestation id is new unless given; the provider is
    /// <see cref="Provider"/> unless given (registered on first use).
    /// </summary>
    public async Task<string> AttestAsync(
        string accountId, string leaseId, long flopUnits, bool final = true, int count = 1, long seconds = 3600,
        string? attestationId = null, string providerId = Provider)
    {
        var provider = await RegisterProviderAsync(providerId);
        // Attestation times are whole seconds (the canonical form signs them so).
        var end = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 5);
        var attestation = new UsageAttestation
        {
            AttestationId = attestationId ?? "att-" + Guid.NewGuid().ToString("N"),
            MarketplaceId = Id,
            ProviderId = providerId,
            LeaseId = leaseId,
            AccountId = accountId,
            AcceleratorModel = Model,
            AcceleratorCount = count,
            IntervalStart = Timestamp.FromDateTimeOffset(end.AddSeconds(-seconds)),
            IntervalEnd = Timestamp.FromDateTimeOffset(end),
            Final = final,
            FlopUnits = flopUnits,
            Precision = PrecisionClass.Bf16,
            WorkloadCommitment = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("salt:sha256:image-" + leaseId))),
            WorkloadClass = WorkloadClass.Training,
            SignedAt = Timestamp.FromDateTimeOffset(end),
            Sequence = provider.NextSequence(),
        };
        var response = await Deployment.AttestationClient.SubmitAttestationAsync(new SubmitAttestationRequest
        {
            Attestation = attestation,
            KeyId = "key-1",
            Signature = ByteString.CopyFrom(AttestationSignature.Sign(attestation, provider.Key)),
        }, Deployment.Auth("provider", Id, providerId));
        Assert.Contains(response.Receipt.Outcome, new[] { Outcome.Accepted, Outcome.Flagged });
        return attestation.AttestationId;
    }

    /// <summary>
    /// Waits until enforcement has counted exactly <paramref name="expected"/> FLOP units in the
    /// account's 24-hour window, failing at once if it ever counts more (something counted twice).
    /// A host that answers UNAVAILABLE meanwhile (Redis coming back) is asked again.
    /// </summary>
    public async Task<GetUsageResponse> WaitForUsageAsync(string accountId, long expected, int host = 0, int seconds = 60)
    {
        GetUsageResponse? last = null;
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                last = await UsageAsync(accountId, host);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                return false;
            }

            var counted = Window(last, "24h").Usage;
            Assert.True(counted <= expected, $"enforcement counted {counted} > {expected} units: something was counted twice");
            return counted == expected;
        }, () => $"{expected} units counted for {accountId} (last seen: {(last is null ? "none" : Window(last, "24h").Usage)})", seconds);
        return last!;
    }

    private sealed class ProviderHost(ECDsa key)
    {
        private long _sequence;

        public ECDsa Key { get; } = key;

        public long NextSequence() => Interlocked.Increment(ref _sequence);
    }
}
