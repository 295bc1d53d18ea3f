using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Enforcement.V1;
using Oversight.Kyc.V1;
using Oversight.Kyc.Verification;
using Oversight.Signing;
using Xunit;

namespace Oversight.IntegrationTests.Flow;

/// <summary>
/// The mission's flow, steps a to g of issue 3, with the default policy: an anonymous
/// account works up to its 24-hour budget, is asked to state a purpose, then to verify an
/// identity, and can go on. Writes a transcript of calls and verdicts.
/// </summary>
public sealed class MissionFlow(FlowTarget target, string marketplace, string identitySecretId, string identitySecret, Action<string> log)
{
    public const string Provider = "prov-1";
    private const string Model = "H100-SXM";
    private ECDsa _providerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private static long _sequence;

    public string AccountId { get; private set; } = "acct-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>Another account of the same marketplace, attested by the same provider host.</summary>
    public async Task<MissionFlow> AnotherAccountAsync()
    {
        var other = new MissionFlow(target, marketplace, identitySecretId, identitySecret, log) { _providerKey = _providerKey };
        var created = await target.Kyc.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = other.AccountId }, Operator);
        log($"   CreateAccount {other.AccountId} -> tier {created.Account.Tier.Id}");
        return other;
    }

    private Metadata Operator => target.As("operator", marketplace);
    private Metadata ProviderHost => target.As("provider", marketplace, Provider);

    /// <summary>Registers the provider host and creates the account (step a).</summary>
    public async Task<Oversight.Kyc.V1.Account> RegisterAndCreateAsync()
    {
        await target.Attestation.RegisterProviderAsync(new RegisterProviderRequest
        {
            MarketplaceId = marketplace,
            ProviderId = Provider,
            KeyId = "key-1",
            PublicKeyPem = _providerKey.ExportSubjectPublicKeyInfoPem(),
            Inventory = { new AcceleratorInventory { AcceleratorModel = Model, Count = 64 } },
        }, Operator);
        log($"RegisterProvider {Provider} (64 x {Model}) -> ok");

        var created = await target.Kyc.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = AccountId }, Operator);
        log($"a. CreateAccount {AccountId} -> tier {created.Account.Tier.Id}");
        return created.Account;
    }

    public async Task RunAsync()
    {
        // a. A pseudonymous account, anonymous tier.
        var created = await RegisterAndCreateAsync();
        Assert.Equal("anonymous", created.Tier.Id);

        // b. At once, a lease of 14 H100-hours: 989 TFLOP/s x 50,400 s x 0.4 = 19,938,240 units of the 20,000,000 a day.
        var first = await AuthorizeAsync("lease-1", count: 1, seconds: 14 * 3600);
        Assert.Equal(Verdict.AllowNearLimit, first.Verdict);
        Assert.Equal(19_938_240, first.Reservation.FlopUnits);
        var again = await AuthorizeAsync("lease-1", count: 1, seconds: 14 * 3600);
        Assert.True(again.Replayed);
        Assert.Equal(first.Reservation, again.Reservation);
        log($"b. Authorize lease-1 again -> same reservation {again.Reservation.ReservationId} (replayed)");

        // c. The provider attests the lease's usage, signed over the canonical bytes.
        var receipt = await AttestAsync("lease-1", count: 1, seconds: 14 * 3600, flopUnits: 19_938_240);
        Assert.Equal(Outcome.Accepted, receipt.Outcome);

        // d. Enforcement counts it once and releases the hold.
        var day = await WaitForUsageAsync(19_938_240);
        Assert.Equal(0, day.Held);
        log($"d. GetUsage -> 24h FLOP usage {day.Usage:N0}, held {day.Held}");

        // e. The anonymous budget is used: the next hour asks for a stated purpose.
        var refused = await AuthorizeAsync("lease-2", count: 1, seconds: 3600);
        Assert.Equal(Verdict.RequireStatedPurpose, refused.Verdict);
        Assert.Equal("24h", refused.DecidingWindow.Window);
        Assert.Equal(Metric.FlopUnits, refused.DecidingWindow.Metric);
        Assert.Equal(19_938_240, refused.DecidingWindow.Usage);
        Assert.Equal(20_000_000, refused.DecidingWindow.Limit);
        Assert.Null(refused.Reservation);

        // f. A stated purpose, and at once the same lease is allowed, up to the next budget.
        var purpose = await target.Kyc.StatePurposeAsync(new StatePurposeRequest
        {
            MarketplaceId = marketplace,
            AccountId = AccountId,
            Category = PurposeCategory.Research,
            Text = "Fine-tuning a protein language model for a thesis.",
        }, Operator);
        Assert.Equal("stated_purpose", purpose.Account.Tier.Id);
        log($"f. StatePurpose (RESEARCH) -> tier {purpose.Account.Tier.Id}");
        var allowed = await AuthorizeAsync("lease-2", count: 1, seconds: 3600);
        Assert.Contains(allowed.Verdict, new[] { Verdict.Allow, Verdict.AllowNearLimit });
        var big = await AuthorizeAsync("lease-3", count: 64, seconds: 24 * 3600, flopUnits: 1_900_000_000);
        Assert.Contains(big.Verdict, new[] { Verdict.Allow, Verdict.AllowNearLimit });
        await AttestAsync("lease-3", count: 64, seconds: 24 * 3600, flopUnits: 1_900_000_000);
        await WaitForUsageAsync(19_938_240 + 1_900_000_000);
        var identityNeeded = await AuthorizeAsync("lease-4", count: 8, seconds: 3600, flopUnits: 100_000_000);
        Assert.Equal(Verdict.RequireIdentity, identityNeeded.Verdict);
        Assert.Equal("24h", identityNeeded.DecidingWindow.Window);
        Assert.Equal(2_000_000_000, identityNeeded.DecidingWindow.Limit);

        // g. A (simulated) identity-verification result arrives; the account may go on.
        var session = await target.Kyc.StartIdentityVerificationAsync(
            new StartIdentityVerificationRequest { MarketplaceId = marketplace, AccountId = AccountId }, Operator);
        var callback = SimulatedIdentityProvider.CreateSignedResult(identitySecretId, identitySecret,
            new VerificationPayload.Document(
                "evt-" + Guid.NewGuid().ToString("N"), session.SessionRef, "approved", "substantial",
                DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"), "P1234567"),
            DateTimeOffset.UtcNow);
        var result = await target.Kyc.SubmitVerificationResultAsync(new SubmitVerificationResultRequest
        {
            Provider = callback.Provider,
            Payload = ByteString.CopyFrom(callback.Payload),
            TimestampUnixSeconds = callback.TimestampUnixSeconds,
            Signature = callback.Signature,
            SecretId = callback.SecretId,
        });
        Assert.True(result.Applied);
        Assert.Equal("identity_verified", result.Tier.Id);
        log($"g. SubmitVerificationResult (approved) -> tier {result.Tier.Id}");
        var verified = await AuthorizeAsync("lease-4", count: 8, seconds: 3600, flopUnits: 100_000_000);
        Assert.Equal(Verdict.Allow, verified.Verdict);
    }

    public async Task<AuthorizeResponse> AuthorizeAsync(string lease, int count, long seconds, long? flopUnits = null)
    {
        var request = new AuthorizeRequest
        {
            MarketplaceId = marketplace,
            AccountId = AccountId,
            LeaseId = lease,
            AcceleratorModel = Model,
            AcceleratorCount = count,
            DurationSeconds = seconds,
            Precision = Common.V1.PrecisionClass.Bf16,
        };
        if (flopUnits is { } units)
        {
            request.FlopUnits = units;
        }

        var response = await target.Enforcement.AuthorizeAsync(request, Operator);
        var window = response.DecidingWindow;
        log($"   Authorize {lease} ({count} x {Model}, {seconds} s{(flopUnits is null ? "" : $", {flopUnits:N0} units")}) -> {response.Verdict}" +
            (window is null ? "" : $" [{window.Window} {window.Metric}: usage {window.Usage:N0}, held {window.Held:N0}, limit {window.Limit:N0}]") +
            (response.Reservation is null ? "" : $" reservation {response.Reservation.FlopUnits:N0} units"));
        return response;
    }

    public async Task<Receipt> AttestAsync(string lease, int count, long seconds, long flopUnits, string? attestationId = null)
    {
        // Attestation times are whole seconds (the canonical form signs them so).
        var end = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 5);
        var attestation = new UsageAttestation
        {
            AttestationId = attestationId ?? "att-" + Guid.NewGuid().ToString("N"),
            MarketplaceId = marketplace,
            ProviderId = Provider,
            LeaseId = lease,
            AccountId = AccountId,
            AcceleratorModel = Model,
            AcceleratorCount = count,
            IntervalStart = Timestamp.FromDateTimeOffset(end.AddSeconds(-seconds)),
            IntervalEnd = Timestamp.FromDateTimeOffset(end),
            Final = true,
            FlopUnits = flopUnits,
            Precision = Common.V1.PrecisionClass.Bf16,
            WorkloadCommitment = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("salt:sha256:image-" + lease))),
            WorkloadClass = WorkloadClass.Training,
            SignedAt = Timestamp.FromDateTimeOffset(end),
            Sequence = Interlocked.Increment(ref _sequence),
        };
        var response = await target.Attestation.SubmitAttestationAsync(new SubmitAttestationRequest
        {
            Attestation = attestation,
            KeyId = "key-1",
            Signature = ByteString.CopyFrom(AttestationSignature.Sign(attestation, _providerKey)),
        }, ProviderHost);
        log($"   SubmitAttestation {lease} ({flopUnits:N0} units, final) -> {response.Receipt.Outcome}, leaf {response.Receipt.LeafIndex}");
        return response.Receipt;
    }

    /// <summary>Waits until enforcement has counted exactly <paramref name="expected"/> units in the 24-hour window.</summary>
    public async Task<WindowUsage> WaitForUsageAsync(long expected)
    {
        WindowUsage? day = null;
        for (var attempt = 0; attempt < 150; attempt++)
        {
            var usage = await target.Enforcement.GetUsageAsync(new GetUsageRequest { MarketplaceId = marketplace, AccountId = AccountId }, Operator);
            day = usage.Windows.First(w => w.Window == "24h" && w.Metric == Metric.FlopUnits);
            Assert.True(day.Usage <= expected, $"counted {day.Usage} > {expected}: something was counted twice");
            if (day.Usage == expected)
            {
                return day;
            }

            await Task.Delay(200);
        }

        throw new Xunit.Sdk.XunitException($"enforcement counted {day?.Usage} of {expected} units within 30 s");
    }
}
