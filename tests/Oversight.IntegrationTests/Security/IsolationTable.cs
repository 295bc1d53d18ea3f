using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Enforcement.V1;
using Oversight.Hosting.Auth;
using Oversight.Kyc.V1;
using Oversight.Policy.Documents;

namespace Oversight.IntegrationTests.Security;

/// <summary>Who may reach a method, and how a tenant's boundary applies to it.</summary>
public enum Access
{
    /// <summary>About one marketplace's resources: only callers of that marketplace (and the service role).</summary>
    Marketplace,

    /// <summary>Not about one marketplace (the log's proofs, the policy, the clock): any caller with an allowed role.</summary>
    Global,

    /// <summary>Needs no token (DESIGN.md: health, reflection, public signing keys).</summary>
    Public,

    /// <summary>An identity provider's callback: authenticated by an HMAC over the payload, never by a token.</summary>
    Callback,
}

/// <summary>One RPC: a valid request about a tenant's resources, and the roles that may send it.</summary>
public sealed record IsolationRow(
    MethodDescriptor Method,
    Access Access,
    IReadOnlyList<string> Roles,
    Func<Tenant, IMessage> Request,
    bool SameIdsInOtherMarketplace = false)
{
    public string Name => RpcCall.NameOf(Method);

    public override string ToString() => Name;
}

/// <summary>
/// Every RPC of the three services and the simulation clock, with the roles the services
/// document (proto comments, DESIGN.md) and a valid request about a tenant's resources.
/// <see cref="TenantIsolationTests.EveryImplementedRpc_HasAnIsolationRow"/> fails when an
/// implemented method has no row here.
/// </summary>
public static class IsolationTable
{
    private static readonly string[] Everyone = [.. Roles.All];

    public static readonly IReadOnlyList<IsolationRow> Rows =
    [
        // ---- KYC ----
        Kyc("CreateAccount", Access.Marketplace, [Roles.Operator, Roles.Admin],
            t => new CreateAccountRequest { MarketplaceId = t.Marketplace, AccountId = Tenant.Fresh("acct") }),
        Kyc("GetAccount", Access.Marketplace, [Roles.Operator, Roles.Auditor, Roles.Compliance, Roles.Admin, Roles.Service],
            t => new GetAccountRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId }, sameIds: true),
        Kyc("StatePurpose", Access.Marketplace, [Roles.Operator],
            t => new StatePurposeRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId, Category = PurposeCategory.Education, Text = "Another purpose." }, sameIds: true),
        Kyc("ReadPurpose", Access.Marketplace, [Roles.Auditor],
            t => new ReadPurposeRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId, Reason = "Isolation test." }, sameIds: true),
        Kyc("StartIdentityVerification", Access.Marketplace, [Roles.Operator],
            t => new StartIdentityVerificationRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId }, sameIds: true),
        Kyc("StartOrganisationVerification", Access.Marketplace, [Roles.Operator],
            t => new StartOrganisationVerificationRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId }, sameIds: true),
        Kyc("SubmitVerificationResult", Access.Callback, [],
            t => Tenant.Callback(t.SessionRef)),
        Kyc("SuspendAccount", Access.Marketplace, [Roles.Compliance, Roles.Admin],
            t => new SuspendAccountRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId, Reason = "Isolation test." }, sameIds: true),
        Kyc("ReinstateAccount", Access.Marketplace, [Roles.Compliance, Roles.Admin],
            t => new ReinstateAccountRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId, Reason = "Isolation test." }, sameIds: true),
        Kyc("IssueTierToken", Access.Marketplace, [Roles.Operator],
            t => new IssueTierTokenRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId, Audience = t.ProviderId, TtlSeconds = 300 }, sameIds: true),
        Kyc("GetTierTokenKeys", Access.Public, [],
            _ => new GetTierTokenKeysRequest()),
        Kyc("LinkAccounts", Access.Marketplace, [Roles.Operator, Roles.Compliance],
            t => new LinkAccountsRequest { MarketplaceId = t.Marketplace, AccountIds = { t.AccountId, t.BareAccountId }, Reason = "Isolation test." }, sameIds: true),
        Kyc("EraseAccount", Access.Marketplace, [Roles.Compliance, Roles.Admin],
            t => new EraseAccountRequest { MarketplaceId = t.Marketplace, AccountId = t.BareAccountId, Reason = "Isolation test." }, sameIds: true),
        Kyc("ListAuditEvents", Access.Marketplace, [Roles.Auditor, Roles.Compliance],
            t => new ListAuditEventsRequest { MarketplaceId = t.Marketplace }),

        // ---- Attestation ----
        Attestation("RegisterProvider", Access.Marketplace, [Roles.Operator, Roles.Admin],
            t => t.Registration(Tenant.Fresh("prov"), t.KeysProviderKey)),
        Attestation("GetProvider", Access.Marketplace, [Roles.Operator, Roles.Admin, Roles.Auditor, Roles.Provider],
            t => new GetProviderRequest { MarketplaceId = t.Marketplace, ProviderId = t.ProviderId }, sameIds: true),
        Attestation("UpdateProviderInventory", Access.Marketplace, [Roles.Operator, Roles.Admin],
            t => new UpdateProviderInventoryRequest
            {
                MarketplaceId = t.Marketplace, ProviderId = t.KeysProviderId,
                Inventory = { new AcceleratorInventory { AcceleratorModel = Tenant.Model, Count = 1 } },
            }, sameIds: true),
        Attestation("RotateProviderKey", Access.Marketplace, [Roles.Operator, Roles.Admin],
            t => new RotateProviderKeyRequest
            {
                MarketplaceId = t.Marketplace, ProviderId = t.KeysProviderId, NewKeyId = Tenant.Fresh("key"),
                NewPublicKeyPem = t.KeysProviderKey.ExportSubjectPublicKeyInfoPem(), OverlapSeconds = 60,
            }, sameIds: true),
        Attestation("RevokeProviderKey", Access.Marketplace, [Roles.Operator, Roles.Admin],
            t => new RevokeProviderKeyRequest { MarketplaceId = t.Marketplace, ProviderId = t.KeysProviderId, KeyId = Tenant.KeyId, Reason = "Isolation test." }, sameIds: true),
        Attestation("SubmitAttestation", Access.Marketplace, [Roles.Provider],
            t => t.Submission(), sameIds: true),
        Attestation("StreamAttestations", Access.Marketplace, [Roles.Provider],
            t => t.Submission(), sameIds: true),
        Attestation("GetAttestation", Access.Marketplace, [Roles.Provider, Roles.Auditor, Roles.Operator, Roles.Service],
            t => new GetAttestationRequest { AttestationId = t.AttestationId }),
        Attestation("GetCheckpoint", Access.Public, [],
            _ => new GetCheckpointRequest()),
        Attestation("GetLogPublicKey", Access.Public, [],
            _ => new GetLogPublicKeyRequest()),
        Attestation("GetInclusionProof", Access.Global, Everyone,
            t => new GetInclusionProofRequest { LeafIndex = t.LeafIndex }),
        Attestation("GetConsistencyProof", Access.Global, Everyone,
            t => new GetConsistencyProofRequest { FirstTreeSize = 1, SecondTreeSize = t.TreeSize }),
        Attestation("ExportAttestations", Access.Marketplace, [Roles.Auditor, Roles.Service],
            t => new ExportAttestationsRequest { MarketplaceId = t.Marketplace }),
        Attestation("ListReviewItems", Access.Marketplace, [Roles.Auditor, Roles.Compliance],
            t => new ListReviewItemsRequest { MarketplaceId = t.Marketplace }),

        // ---- Enforcement ----
        Enforcement("Authorize", Access.Marketplace, [Roles.Operator],
            t => new AuthorizeRequest
            {
                MarketplaceId = t.Marketplace, AccountId = t.AccountId, LeaseId = Tenant.Fresh("lease"), AcceleratorModel = Tenant.Model,
                AcceleratorCount = 1, DurationSeconds = 600, Precision = PrecisionClass.Bf16,
            }, sameIds: true),
        Enforcement("ReleaseReservation", Access.Marketplace, [Roles.Operator],
            t => new ReleaseReservationRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId, LeaseId = t.LeaseId }, sameIds: true),
        Enforcement("GetUsage", Access.Marketplace, [Roles.Operator, Roles.Auditor, Roles.Compliance, Roles.Service],
            t => new GetUsageRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId }, sameIds: true),
        Enforcement("SetPolicy", Access.Global, [Roles.Admin],
            _ => new SetPolicyRequest { Document = DefaultPolicy.Yaml, Format = PolicyFormat.Yaml, Comment = "Isolation test: the default again." }),
        Enforcement("GetPolicy", Access.Global, Everyone,
            _ => new GetPolicyRequest { Version = 1 }),
        Enforcement("ListPolicyVersions", Access.Global, Everyone,
            _ => new ListPolicyVersionsRequest()),
        Enforcement("RebuildCounters", Access.Marketplace, [Roles.Admin],
            t => new RebuildCountersRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId }, sameIds: true),

        // ---- Simulation clock (every host) ----
        Clock("SetClock", Access.Global, [Roles.Admin],
            _ => new SetClockRequest { Now = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddHours(1)) }),
        Clock("GetClock", Access.Global, Everyone,
            _ => new GetClockRequest()),
    ];

    public static IsolationRow Row(string name) => Rows.Single(r => r.Name == name);

    /// <summary>
    /// The request with every <c>marketplace_id</c> (at any depth) set to <paramref name="marketplace"/>:
    /// the same resource ids, looked up in another marketplace.
    /// </summary>
    public static IMessage InMarketplace(IMessage request, string marketplace)
    {
        var copy = RpcCall.Copy(request);
        Rewrite(copy, marketplace);
        return copy;
    }

    private static void Rewrite(IMessage message, string marketplace)
    {
        foreach (var field in message.Descriptor.Fields.InDeclarationOrder())
        {
            if (field.Name == "marketplace_id" && field.FieldType == FieldType.String && !field.IsRepeated)
            {
                field.Accessor.SetValue(message, marketplace);
            }
            else if (field.FieldType == FieldType.Message && !field.IsRepeated && field.Accessor.GetValue(message) is IMessage inner)
            {
                Rewrite(inner, marketplace);
            }
        }
    }

    private static IsolationRow Kyc(string name, Access access, string[] roles, Func<Tenant, IMessage> request, bool sameIds = false) =>
        new(SecurityFixture.Method(KycTiering.Descriptor, name), access, roles, request, sameIds);

    private static IsolationRow Attestation(string name, Access access, string[] roles, Func<Tenant, IMessage> request, bool sameIds = false) =>
        new(SecurityFixture.Method(WorkloadAttestation.Descriptor, name), access, roles, request, sameIds);

    private static IsolationRow Enforcement(string name, Access access, string[] roles, Func<Tenant, IMessage> request, bool sameIds = false) =>
        new(SecurityFixture.Method(ThresholdEnforcement.Descriptor, name), access, roles, request, sameIds);

    private static IsolationRow Clock(string name, Access access, string[] roles, Func<Tenant, IMessage> request) =>
        new(SecurityFixture.Method(SimulationClock.Descriptor, name), access, roles, request);
}
