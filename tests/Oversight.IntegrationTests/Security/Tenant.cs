using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Enforcement.V1;
using Oversight.Hosting.Auth;
using Oversight.IntegrationTests.Flow;
using Oversight.Kyc.V1;
using Oversight.Kyc.Verification;
using Oversight.Signing;
using Xunit;

namespace Oversight.IntegrationTests.Security;

/// <summary>
/// One marketplace's resources, made through the public RPCs: an account with a stated
/// purpose, an identity session and a live reservation; an account with nothing; a provider
/// that attests (one attestation in the ledger and one conflict in the review table); a second
/// provider whose keys and inventory tests may change. Every id is unique to this tenant.
/// </summary>
public sealed class Tenant
{
    public const string Model = "H100-SXM";
    public const int InventoryCount = 64;
    public const string KeyId = "key-1";

    private long _sequence;

    private Tenant(string marketplace)
    {
        Marketplace = marketplace;
        var tag = Guid.NewGuid().ToString("N")[..8];
        AccountId = "acct-" + tag;
        BareAccountId = "bare-" + tag;
        ProviderId = "prov-" + tag;
        KeysProviderId = "keys-" + tag;
        LeaseId = "lease-" + tag;
        PurposeText = "Purpose of " + tag + ": training a small weather model (secret " + Guid.NewGuid().ToString("N") + ")";
    }

    public string Marketplace { get; }

    /// <summary>Has a stated purpose, an identity session and a live reservation (<see cref="LeaseId"/>).</summary>
    public string AccountId { get; }

    /// <summary>An account with no purpose, session or usage.</summary>
    public string BareAccountId { get; }

    public string PurposeText { get; }
    public string SessionRef { get; private set; } = "";

    /// <summary>Registered with <see cref="KeyId"/> and <see cref="Model"/> x <see cref="InventoryCount"/>; attests.</summary>
    public string ProviderId { get; }

    public ECDsa ProviderKey { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>A provider whose keys and inventory may be rotated, revoked or replaced.</summary>
    public string KeysProviderId { get; }

    public ECDsa KeysProviderKey { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>A lease with a live reservation, never attested.</summary>
    public string LeaseId { get; }

    public string AttestationId { get; private set; } = "";
    public string WorkloadCommitment { get; private set; } = "";
    public long LeafIndex { get; private set; }
    public string LeafHash { get; private set; } = "";

    /// <summary>The log's size once this tenant was set up.</summary>
    public long TreeSize { get; private set; }

    /// <summary>What only this tenant may see: never in an answer to another marketplace.</summary>
    public IReadOnlyList<string> Secrets => [PurposeText, PemBody(ProviderKey), PemBody(KeysProviderKey), WorkloadCommitment, SessionRef];

    /// <summary>This tenant's ids: never in an answer that is not about this tenant.</summary>
    public IReadOnlyList<string> Ids => [AccountId, BareAccountId, ProviderId, KeysProviderId, LeaseId, AttestationId];

    public long NextSequence() => Interlocked.Increment(ref _sequence);

    public static string Fresh(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..16];

    public static async Task<Tenant> CreateAsync(SecurityFixture fixture, string marketplace)
    {
        var tenant = new Tenant(marketplace);
        var target = fixture.Target;
        var operatorToken = fixture.As(Roles.Operator, marketplace);
        await Task.WhenAll(
            target.Attestation.RegisterProviderAsync(tenant.Registration(tenant.ProviderId, tenant.ProviderKey), operatorToken).ResponseAsync,
            target.Attestation.RegisterProviderAsync(tenant.Registration(tenant.KeysProviderId, tenant.KeysProviderKey), operatorToken).ResponseAsync,
            target.Kyc.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = tenant.AccountId }, operatorToken).ResponseAsync,
            target.Kyc.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = tenant.BareAccountId }, operatorToken).ResponseAsync);

        var reservation = await target.Enforcement.AuthorizeAsync(new AuthorizeRequest
        {
            MarketplaceId = marketplace,
            AccountId = tenant.AccountId,
            LeaseId = tenant.LeaseId,
            AcceleratorModel = Model,
            AcceleratorCount = 1,
            DurationSeconds = 600,
            Precision = PrecisionClass.Bf16,
        }, operatorToken);
        Assert.NotNull(reservation.Reservation);

        var submission = tenant.Submission();
        var receipt = (await target.Attestation.SubmitAttestationAsync(submission, fixture.As(Roles.Provider, marketplace, tenant.ProviderId))).Receipt;
        Assert.Equal(Outcome.Accepted, receipt.Outcome);
        tenant.AttestationId = submission.Attestation.AttestationId;
        tenant.WorkloadCommitment = submission.Attestation.WorkloadCommitment;
        tenant.LeafIndex = receipt.LeafIndex;
        tenant.LeafHash = receipt.LeafHash;

        // The same id with other bytes: refused, and kept in the review table.
        var conflict = submission.Attestation.Clone();
        conflict.FlopUnits++;
        conflict.Sequence = tenant.NextSequence();
        var refused = await Assert.ThrowsAsync<RpcException>(() => target.Attestation.SubmitAttestationAsync(
            tenant.Signed(conflict), fixture.As(Roles.Provider, marketplace, tenant.ProviderId)).ResponseAsync);
        Assert.Equal(StatusCode.AlreadyExists, refused.StatusCode);

        await target.Kyc.StatePurposeAsync(new StatePurposeRequest
        {
            MarketplaceId = marketplace,
            AccountId = tenant.AccountId,
            Category = PurposeCategory.Research,
            Text = tenant.PurposeText,
        }, operatorToken);
        tenant.SessionRef = (await target.Kyc.StartIdentityVerificationAsync(
            new StartIdentityVerificationRequest { MarketplaceId = marketplace, AccountId = tenant.AccountId }, operatorToken)).SessionRef;
        tenant.TreeSize = (await target.Attestation.GetCheckpointAsync(new GetCheckpointRequest())).TreeSize;
        return tenant;
    }

    public RegisterProviderRequest Registration(string providerId, ECDsa key) => new()
    {
        MarketplaceId = Marketplace,
        ProviderId = providerId,
        KeyId = KeyId,
        PublicKeyPem = key.ExportSubjectPublicKeyInfoPem(),
        Inventory = { new AcceleratorInventory { AcceleratorModel = Model, Count = InventoryCount } },
    };

    /// <summary>A new, valid usage attestation of <see cref="AccountId"/> (10 minutes of one H100, plausible).</summary>
    public UsageAttestation NewAttestation()
    {
        var end = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60);
        var lease = Fresh("lease");
        return new UsageAttestation
        {
            AttestationId = Fresh("att"),
            MarketplaceId = Marketplace,
            ProviderId = ProviderId,
            LeaseId = lease,
            AccountId = AccountId,
            AcceleratorModel = Model,
            AcceleratorCount = 1,
            IntervalStart = Timestamp.FromDateTimeOffset(end.AddSeconds(-600)),
            IntervalEnd = Timestamp.FromDateTimeOffset(end),
            Final = true,
            FlopUnits = 100_000,
            Precision = PrecisionClass.Bf16,
            WorkloadCommitment = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("salt:" + lease))),
            WorkloadClass = WorkloadClass.Training,
            SignedAt = Timestamp.FromDateTimeOffset(end),
            Sequence = NextSequence(),
        };
    }

    public SubmitAttestationRequest Submission() => Signed(NewAttestation());

    /// <summary>The attestation signed with the provider's key; a random signature when its fields cannot be encoded.</summary>
    public SubmitAttestationRequest Signed(UsageAttestation attestation) => new()
    {
        Attestation = attestation,
        KeyId = KeyId,
        Signature = ByteString.CopyFrom(TrySign(attestation, ProviderKey)),
    };

    public static byte[] TrySign(UsageAttestation attestation, ECDsa key)
    {
        try
        {
            return AttestationSignature.Sign(attestation, key);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            // Not encodable (a missing timestamp, an undefined enum...): the service refuses it before the signature.
            return RandomNumberGenerator.GetBytes(AttestationSignature.SignatureLength);
        }
    }

    /// <summary>A signed, approving identity result for <paramref name="sessionRef"/>, as the simulated provider sends it.</summary>
    public static SubmitVerificationResultRequest Callback(string sessionRef, string? eventId = null, byte[]? payload = null, long? timestamp = null)
    {
        var now = DateTimeOffset.UtcNow;
        payload ??= VerificationPayload.Serialize(new VerificationPayload.Document(
            eventId ?? Fresh("evt"), sessionRef, "approved", "substantial", now.ToString("yyyy-MM-ddTHH:mm:ssZ"), "P" + Random.Shared.Next(1_000_000, 9_999_999)));
        var unix = timestamp ?? now.ToUnixTimeSeconds();
        return new SubmitVerificationResultRequest
        {
            Provider = SimulatedIdentityProvider.ProviderName,
            Payload = ByteString.CopyFrom(payload),
            TimestampUnixSeconds = unix,
            Signature = CallbackSignature.ComputeHex(Encoding.UTF8.GetBytes(Deployment.IdentitySecret), unix, payload),
            SecretId = Deployment.IdentitySecretId,
        };
    }

    // The first PEM line of the public key (PEM wraps base64 at 64 characters).
    private static string PemBody(ECDsa key) => Convert.ToBase64String(key.ExportSubjectPublicKeyInfo())[..64];
}
