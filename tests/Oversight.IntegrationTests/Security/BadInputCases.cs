using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Enforcement.V1;
using Oversight.Hosting.Auth;
using Oversight.IntegrationTests.Flow;
using Oversight.Kyc.V1;
using Oversight.Kyc.Verification;
using Oversight.Policy.Documents;
using Oversight.Signing;

namespace Oversight.IntegrationTests.Security;

/// <summary>
/// How to send a valid request of one RPC: as whom, built from a tenant's resources (fresh ids
/// where the call would create something), and what to redo once a field is broken (sign an
/// attestation or a callback again, so that the broken field is the only thing wrong).
/// </summary>
public sealed record ValidRequest(
    MethodDescriptor Method,
    string? Role,
    Func<Tenant, IMessage> Build,
    Func<IMessage, Tenant, IMessage>? Finish = null,
    bool OnClockHost = false)
{
    public string Name => RpcCall.NameOf(Method);

    public IMessage Create(Tenant tenant, Action<IMessage, Tenant>? breakIt = null, bool finish = true)
    {
        var request = Build(tenant);
        breakIt?.Invoke(request, tenant);
        return finish && Finish is not null ? Finish(request, tenant) : request;
    }
}

/// <summary>
/// One malformed field of one RPC: the valid request with that field broken, the precise status
/// expected and the proto path of the field the answer must name.
/// </summary>
public sealed record BadInputCase(
    string Id,
    ValidRequest Valid,
    Action<IMessage, Tenant> Break,
    StatusCode Code,
    string Field,
    bool Finish = true,
    Func<SecurityFixture, Tenant, Metadata?>? Headers = null,
    Func<RpcOutcome, string?>? ExtraCheck = null)
{
    public override string ToString() => Id;
}

/// <summary>The bad-input table of issue 3, item 6: one case per malformed field of every implemented RPC.</summary>
public static class BadInputCases
{
    private const string Illegal = "bad id/é";
    private static readonly string TooLongId = new('a', 129);
    private static readonly string Hex64 = new('0', 64);

    // ---- Valid requests ----------------------------------------------------------------------

    public static readonly IReadOnlyList<ValidRequest> Valid =
    [
        Kyc("CreateAccount", Roles.Operator, t => new CreateAccountRequest { MarketplaceId = t.Marketplace, AccountId = Tenant.Fresh("acct") }),
        Kyc("GetAccount", Roles.Operator, t => new GetAccountRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId }),
        Kyc("StatePurpose", Roles.Operator, t => new StatePurposeRequest
        {
            MarketplaceId = t.Marketplace, AccountId = t.BareAccountId, Category = PurposeCategory.Research, Text = "Benchmarking a compiler.",
        }),
        Kyc("ReadPurpose", Roles.Auditor, t => new ReadPurposeRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId, Reason = "Quarterly audit." }),
        Kyc("StartIdentityVerification", Roles.Operator, t => new StartIdentityVerificationRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId }),
        Kyc("StartOrganisationVerification", Roles.Operator, t => new StartOrganisationVerificationRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId }),
        Kyc("SubmitVerificationResult", null, t => Tenant.Callback(t.SessionRef), (m, _) => Resign((SubmitVerificationResultRequest)m)),
        Kyc("SuspendAccount", Roles.Compliance, t => new SuspendAccountRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId, Reason = "Chargeback review." }),
        Kyc("ReinstateAccount", Roles.Compliance, t => new ReinstateAccountRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId, Reason = "Review closed." }),
        Kyc("IssueTierToken", Roles.Operator, t => new IssueTierTokenRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId, Audience = t.ProviderId, TtlSeconds = 300 }),
        Kyc("LinkAccounts", Roles.Operator, t => new LinkAccountsRequest { MarketplaceId = t.Marketplace, AccountIds = { t.AccountId, t.BareAccountId }, Reason = "Same payment card." }),
        Kyc("ListAuditEvents", Roles.Auditor, t => new ListAuditEventsRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId, PageSize = 10 }),
        // Last of KYC: the valid request erases the account the others use.
        Kyc("EraseAccount", Roles.Compliance, t => new EraseAccountRequest { MarketplaceId = t.Marketplace, AccountId = t.BareAccountId, Reason = "Data subject request." }),

        Attestation("RegisterProvider", Roles.Operator, t => t.Registration(Tenant.Fresh("prov"), ECDsa.Create(ECCurve.NamedCurves.nistP256))),
        Attestation("GetProvider", Roles.Operator, t => new GetProviderRequest { MarketplaceId = t.Marketplace, ProviderId = t.ProviderId }),
        Attestation("UpdateProviderInventory", Roles.Operator, t => new UpdateProviderInventoryRequest
        {
            MarketplaceId = t.Marketplace, ProviderId = t.KeysProviderId,
            Inventory = { new AcceleratorInventory { AcceleratorModel = Tenant.Model, Count = 32 }, new AcceleratorInventory { AcceleratorModel = "A100", Count = 8 } },
        }),
        Attestation("RotateProviderKey", Roles.Operator, t => new RotateProviderKeyRequest
        {
            MarketplaceId = t.Marketplace, ProviderId = t.KeysProviderId, NewKeyId = Tenant.Fresh("key"),
            NewPublicKeyPem = ECDsa.Create(ECCurve.NamedCurves.nistP256).ExportSubjectPublicKeyInfoPem(), OverlapSeconds = 3600,
        }),
        Attestation("RevokeProviderKey", Roles.Operator, t => new RevokeProviderKeyRequest
        {
            MarketplaceId = t.Marketplace, ProviderId = t.KeysProviderId, KeyId = Tenant.KeyId, Reason = "Host decommissioned.",
        }),
        Attestation("SubmitAttestation", Roles.Provider, t => t.Signed(t.NewAttestation()), (m, t) => Resign((SubmitAttestationRequest)m, t)),
        Attestation("StreamAttestations", Roles.Provider, t => t.Signed(t.NewAttestation()), (m, t) => Resign((SubmitAttestationRequest)m, t)),
        Attestation("GetAttestation", Roles.Operator, t => new GetAttestationRequest { AttestationId = t.AttestationId }),
        Attestation("GetInclusionProof", Roles.Operator, t => new GetInclusionProofRequest { LeafIndex = t.LeafIndex, TreeSize = t.TreeSize }),
        Attestation("GetConsistencyProof", Roles.Operator, t => new GetConsistencyProofRequest { FirstTreeSize = 1, SecondTreeSize = t.TreeSize }),
        Attestation("ExportAttestations", Roles.Auditor, t => new ExportAttestationsRequest { MarketplaceId = t.Marketplace, AccountIds = { t.AccountId }, Limit = 10 }),
        Attestation("ListReviewItems", Roles.Auditor, t => new ListReviewItemsRequest { MarketplaceId = t.Marketplace, PageSize = 10 }),

        Enforcement("Authorize", Roles.Operator, t => new AuthorizeRequest
        {
            MarketplaceId = t.Marketplace, AccountId = t.AccountId, LeaseId = Tenant.Fresh("lease"), AcceleratorModel = Tenant.Model,
            AcceleratorCount = 1, DurationSeconds = 600, Precision = PrecisionClass.Bf16, FlopUnits = 50_000,
        }),
        Enforcement("ReleaseReservation", Roles.Operator, t => new ReleaseReservationRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId, LeaseId = t.LeaseId }),
        Enforcement("GetUsage", Roles.Operator, t => new GetUsageRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId }),
        Enforcement("SetPolicy", Roles.Admin, _ => new SetPolicyRequest { Document = DefaultPolicy.Yaml, Format = PolicyFormat.Yaml, Comment = "The default again." }),
        Enforcement("GetPolicy", Roles.Operator, _ => new GetPolicyRequest { Version = 1 }),
        Enforcement("RebuildCounters", Roles.Admin, t => new RebuildCountersRequest { MarketplaceId = t.Marketplace, AccountId = t.AccountId }),

        // The deployment's hosts run on the system clock (SetClock answers FAILED_PRECONDITION
        // before it reads the request): SetClock is exercised on a host in simulation mode.
        new(SecurityFixture.Method(SimulationClock.Descriptor, "SetClock"), Roles.Admin,
            _ => new SetClockRequest { Now = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMinutes(1)) }, OnClockHost: true),
    ];

    public static ValidRequest ValidFor(string name) => Valid.Single(v => v.Name == name);

    // ---- Cases -------------------------------------------------------------------------------

    public static readonly IReadOnlyList<BadInputCase> All = Build();

    public static BadInputCase Case(string id) => All.Single(c => c.Id == id);

    private static List<BadInputCase> Build()
    {
        var cases = new List<BadInputCase>();

        // KYC
        var create = ValidFor("KycTiering.CreateAccount");
        cases.AddRange(Ids(create, "marketplace_id"));
        cases.AddRange(Ids(create, "account_id", required: false));
        cases.Add(Set(create, "account_id", "taken", (m, t) => ProtoPath.Set(m, "account_id", t.AccountId), StatusCode.AlreadyExists));

        foreach (var name in new[] { "GetAccount", "StartIdentityVerification", "StartOrganisationVerification" })
        {
            var valid = ValidFor("KycTiering." + name);
            cases.AddRange(Ids(valid, "marketplace_id").Concat(Ids(valid, "account_id")));
            cases.Add(UnknownId(valid, "account_id"));
        }

        var purpose = ValidFor("KycTiering.StatePurpose");
        cases.AddRange(Ids(purpose, "marketplace_id").Concat(Ids(purpose, "account_id")));
        cases.Add(Set(purpose, "category", PurposeCategory.Unspecified));
        cases.Add(Set(purpose, "category", 99));
        cases.Add(Set(purpose, "text", ""));
        cases.Add(Set(purpose, "text", "   "));
        cases.Add(Set(purpose, "text", new string('x', 2001), name: "2001 chars"));
        cases.Add(UnknownId(purpose, "account_id"));

        var read = ValidFor("KycTiering.ReadPurpose");
        cases.AddRange(Ids(read, "marketplace_id").Concat(Ids(read, "account_id")));
        cases.AddRange(Reasons(read, 500));
        cases.Add(UnknownId(read, "account_id"));
        cases.Add(Set(read, "account_id", "without purpose", (m, t) => ProtoPath.Set(m, "account_id", t.BareAccountId), StatusCode.NotFound));

        foreach (var name in new[] { "SuspendAccount", "ReinstateAccount", "EraseAccount" })
        {
            var valid = ValidFor("KycTiering." + name);
            cases.AddRange(Ids(valid, "marketplace_id").Concat(Ids(valid, "account_id")));
            cases.AddRange(Reasons(valid, 500));
            cases.Add(UnknownId(valid, "account_id"));
        }

        var token = ValidFor("KycTiering.IssueTierToken");
        cases.AddRange(Ids(token, "marketplace_id").Concat(Ids(token, "account_id")));
        cases.Add(Set(token, "audience", ""));
        cases.Add(Set(token, "audience", "has space"));
        cases.Add(Set(token, "audience", new string('a', 257), name: "257 chars"));
        cases.Add(Set(token, "ttl_seconds", -1));
        cases.Add(UnknownId(token, "account_id"));

        var link = ValidFor("KycTiering.LinkAccounts");
        cases.AddRange(Ids(link, "marketplace_id").Concat(Ids(link, "account_ids[0]")));
        cases.Add(Set(link, "account_ids", "one account", (m, _) => ((LinkAccountsRequest)m).AccountIds.RemoveAt(1), StatusCode.InvalidArgument));
        cases.Add(Set(link, "account_ids", "the same account twice", (m, t) => ((LinkAccountsRequest)m).AccountIds[1] = t.AccountId, StatusCode.InvalidArgument));
        cases.Add(Set(link, "account_ids", "101 accounts", (m, _) => ((LinkAccountsRequest)m).AccountIds.AddRange(Enumerable.Range(0, 99).Select(i => "acct-" + i)), StatusCode.InvalidArgument));
        cases.AddRange(Reasons(link, 500));
        cases.Add(Set(link, "account_ids", "unknown", (m, _) => ((LinkAccountsRequest)m).AccountIds[1] = Tenant.Fresh("unknown"), StatusCode.NotFound));

        var audit = ValidFor("KycTiering.ListAuditEvents");
        cases.AddRange(Ids(audit, "marketplace_id").Concat(Ids(audit, "account_id", required: false)));
        cases.Add(Set(audit, "page_size", -1));
        cases.Add(Set(audit, "page_token", "garbage"));
        cases.Add(Set(audit, "page_token", "YXVkaXQ6djE6LTE", name: "negative sequence"));

        cases.AddRange(CallbackCases(ValidFor("KycTiering.SubmitVerificationResult")));

        // Attestation: the provider registry
        var register = ValidFor("WorkloadAttestation.RegisterProvider");
        cases.AddRange(Ids(register, "marketplace_id").Concat(Ids(register, "provider_id")).Concat(Ids(register, "key_id")));
        cases.AddRange(PemCases(register, "public_key_pem"));
        cases.AddRange(InventoryCases(register));
        cases.Add(Set(register, "provider_id", "taken", (m, t) => ProtoPath.Set(m, "provider_id", t.ProviderId), StatusCode.AlreadyExists));

        var getProvider = ValidFor("WorkloadAttestation.GetProvider");
        cases.AddRange(Ids(getProvider, "marketplace_id").Concat(Ids(getProvider, "provider_id")));
        cases.Add(UnknownId(getProvider, "provider_id"));

        var inventory = ValidFor("WorkloadAttestation.UpdateProviderInventory");
        cases.AddRange(Ids(inventory, "marketplace_id").Concat(Ids(inventory, "provider_id")));
        cases.AddRange(InventoryCases(inventory));
        cases.Add(UnknownId(inventory, "provider_id"));

        var rotate = ValidFor("WorkloadAttestation.RotateProviderKey");
        cases.AddRange(Ids(rotate, "marketplace_id").Concat(Ids(rotate, "provider_id")).Concat(Ids(rotate, "new_key_id")));
        cases.AddRange(PemCases(rotate, "new_public_key_pem"));
        cases.Add(Set(rotate, "overlap_seconds", -1));
        cases.Add(Set(rotate, "overlap_seconds", 10L * 365 * 86400, name: "ten years"));
        cases.Add(Set(rotate, "new_key_id", "taken", (m, _) => ProtoPath.Set(m, "new_key_id", Tenant.KeyId), StatusCode.AlreadyExists));
        cases.Add(UnknownId(rotate, "provider_id"));

        var revoke = ValidFor("WorkloadAttestation.RevokeProviderKey");
        cases.AddRange(Ids(revoke, "marketplace_id").Concat(Ids(revoke, "provider_id")).Concat(Ids(revoke, "key_id")));
        cases.Add(Set(revoke, "reason", new string('r', 513), name: "513 chars"));
        cases.Add(Set(revoke, "revoked_at", new Timestamp { Seconds = -1 }, name: "before 1970"));
        cases.Add(Set(revoke, "revoked_at", new Timestamp { Seconds = 253_402_300_800 }, name: "after 9999"));
        cases.Add(Set(revoke, "revoked_at", new Timestamp { Seconds = 1_800_000_000, Nanos = -1 }, name: "negative nanos"));
        cases.Add(UnknownId(revoke, "key_id"));
        cases.Add(UnknownId(revoke, "provider_id"));

        // Attestation: submissions, unary and streamed
        cases.AddRange(SubmissionCases(ValidFor("WorkloadAttestation.SubmitAttestation")));
        cases.AddRange(SubmissionCases(ValidFor("WorkloadAttestation.StreamAttestations")).Select(AsStreamed));

        var getAttestation = ValidFor("WorkloadAttestation.GetAttestation");
        cases.AddRange(Ids(getAttestation, "attestation_id"));
        cases.AddRange(Ids(getAttestation, "provider_id", required: false));
        cases.AddRange(Ids(getAttestation, "marketplace_id", required: false));
        cases.Add(UnknownId(getAttestation, "attestation_id"));

        var inclusion = ValidFor("WorkloadAttestation.GetInclusionProof");
        cases.Add(Set(inclusion, "leaf", "neither index nor hash", (m, _) => ((GetInclusionProofRequest)m).ClearLeaf(), StatusCode.InvalidArgument));
        cases.Add(Set(inclusion, "leaf_index", -1));
        cases.Add(Set(inclusion, "leaf_index", 1_000_000_000_000, code: StatusCode.OutOfRange, name: "beyond the log"));
        cases.Add(Set(inclusion, "leaf_hash", "xyz", name: "not hex"));
        cases.Add(Set(inclusion, "leaf_hash", new string('a', 63), name: "63 hex chars"));
        cases.Add(Set(inclusion, "leaf_hash", Hex64, code: StatusCode.NotFound, name: "not in the log"));
        cases.Add(Set(inclusion, "tree_size", -1));
        cases.Add(Set(inclusion, "tree_size", 1_000_000_000_000, code: StatusCode.OutOfRange, name: "beyond the log"));
        cases.Add(Set(inclusion, "tree_size", "not containing the leaf", (m, t) => ProtoPath.Set(m, "tree_size", t.LeafIndex == 0 ? 1 : t.LeafIndex), StatusCode.InvalidArgument,
            breakFirst: (m, t) => ProtoPath.Set(m, "leaf_index", Math.Max(t.LeafIndex, 1))));

        var consistency = ValidFor("WorkloadAttestation.GetConsistencyProof");
        cases.Add(Set(consistency, "first_tree_size", -1));
        cases.Add(Set(consistency, "second_tree_size", 0, name: "below first"));
        cases.Add(Set(consistency, "second_tree_size", 1_000_000_000_000, code: StatusCode.OutOfRange, name: "beyond the log"));

        var export = ValidFor("WorkloadAttestation.ExportAttestations");
        cases.AddRange(Ids(export, "marketplace_id"));
        cases.Add(Set(export, "after_position", -1));
        cases.Add(Set(export, "limit", -1));
        cases.Add(Set(export, "account_ids[0]", Illegal, field: "account_ids[0]", name: "illegal"));
        cases.Add(Set(export, "account_ids", "1001 ids", (m, _) => ((ExportAttestationsRequest)m).AccountIds.AddRange(Enumerable.Range(0, 1000).Select(i => "a" + i)), StatusCode.InvalidArgument));

        var review = ValidFor("WorkloadAttestation.ListReviewItems");
        cases.AddRange(Ids(review, "marketplace_id"));
        cases.Add(Set(review, "page_size", -1));
        cases.Add(Set(review, "page_size", 1001));
        cases.Add(Set(review, "page_token", "abc"));
        cases.Add(Set(review, "page_token", "0"));
        cases.Add(Set(review, "page_token", "-5"));

        // Enforcement
        var authorize = ValidFor("ThresholdEnforcement.Authorize");
        cases.AddRange(Ids(authorize, "marketplace_id").Concat(Ids(authorize, "account_id")).Concat(Ids(authorize, "lease_id")));
        cases.Add(Set(authorize, "accelerator_model", ""));
        cases.Add(Set(authorize, "accelerator_model", "NOT-A-GPU", name: "unknown accelerator"));
        cases.Add(Set(authorize, "accelerator_count", 0));
        cases.Add(Set(authorize, "accelerator_count", -1));
        cases.Add(Set(authorize, "accelerator_count", 100_001));
        cases.Add(Set(authorize, "duration_seconds", 0));
        cases.Add(Set(authorize, "duration_seconds", -1));
        cases.Add(Set(authorize, "duration_seconds", 366L * 86400 + 1, name: "366 days + 1 s"));
        cases.Add(Set(authorize, "flop_units", 0));
        cases.Add(Set(authorize, "flop_units", -5));
        cases.Add(Set(authorize, "flop_units", 1_000_000_000_000_001, name: "above 10^15"));
        cases.Add(Set(authorize, "precision", 99));
        cases.Add(Set(authorize, "duration_seconds", "amount above any request", (m, _) =>
        {
            var request = (AuthorizeRequest)m;
            request.ClearFlopUnits();
            request.AcceleratorCount = 100_000;
            request.DurationSeconds = 366L * 86400;
        }, StatusCode.InvalidArgument));
        cases.Add(UnknownId(authorize, "account_id"));

        var release = ValidFor("ThresholdEnforcement.ReleaseReservation");
        cases.AddRange(Ids(release, "marketplace_id").Concat(Ids(release, "account_id")).Concat(Ids(release, "lease_id")));
        cases.Add(UnknownId(release, "account_id"));
        // Documented: idempotent, released=false when there is no live hold (a retry must not fail).
        cases.Add(UnknownId(release, "lease_id", StatusCode.OK) with
        {
            ExtraCheck = o => o.Responses.Single() is ReleaseReservationResponse { Released: false } ? null : "expected released=false",
        });

        var usage = ValidFor("ThresholdEnforcement.GetUsage");
        cases.AddRange(Ids(usage, "marketplace_id").Concat(Ids(usage, "account_id")));
        cases.Add(UnknownId(usage, "account_id"));

        var setPolicy = ValidFor("ThresholdEnforcement.SetPolicy");
        cases.Add(Set(setPolicy, "document", ""));
        cases.Add(Set(setPolicy, "document", "  \n "));
        cases.Add(Set(setPolicy, "document", DefaultPolicy.Yaml + "\n#" + new string('x', 1_000_000), name: "over 1,000,000 chars"));
        cases.Add(Set(setPolicy, "document", "windows: [\n  - id: 24h", name: "not YAML"));
        cases.Add(Set(setPolicy, "document", "the default policy as JSON", (m, _) => ProtoPath.Set(m, "format", PolicyFormat.Json), StatusCode.InvalidArgument));
        cases.Add(Set(setPolicy, "document.near_limit_fraction", "1.5",
            (m, _) => ProtoPath.Set(m, "document", DefaultPolicy.Yaml.Replace("near_limit_fraction: 0.8", "near_limit_fraction: 1.5", StringComparison.Ordinal)),
            StatusCode.InvalidArgument));
        cases.Add(Set(setPolicy, "document.ladder", "empty",
            (m, _) => ProtoPath.Set(m, "document", "windows:\n  - id: lifetime\nladder: []\n"), StatusCode.InvalidArgument));
        cases.Add(Set(setPolicy, "format", PolicyFormatUnspecified));
        cases.Add(Set(setPolicy, "format", 99));
        cases.Add(Set(setPolicy, "comment", new string('c', 501), name: "501 chars"));

        var getPolicy = ValidFor("ThresholdEnforcement.GetPolicy");
        cases.Add(Set(getPolicy, "version", -1));
        cases.Add(Set(getPolicy, "version", 999_999, code: StatusCode.NotFound, name: "unknown"));

        var rebuild = ValidFor("ThresholdEnforcement.RebuildCounters");
        cases.AddRange(Ids(rebuild, "marketplace_id", required: false).Concat(Ids(rebuild, "account_id", required: false)));
        cases.Add(Set(rebuild, "marketplace_id", "", field: "marketplace_id", name: "empty with account_id"));
        cases.Add(UnknownId(rebuild, "account_id"));

        // Simulation clock
        var setClock = ValidFor("SimulationClock.SetClock");
        cases.Add(Set(setClock, "now", null, name: "missing"));
        cases.Add(Set(setClock, "now", Timestamp.FromDateTimeOffset(new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero)), code: StatusCode.FailedPrecondition, name: "backwards"));
        cases.Add(Set(setClock, "now", new Timestamp { Seconds = 253_402_300_800 }, name: "after 9999"));
        cases.Add(Set(setClock, "now", new Timestamp { Seconds = 4_000_000_000, Nanos = -1 }, name: "negative nanos"));

        var duplicates = cases.GroupBy(c => c.Id).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        return duplicates.Count == 0 ? cases : throw new InvalidOperationException("Duplicate case ids: " + string.Join(", ", duplicates));
    }

    private const PolicyFormat PolicyFormatUnspecified = PolicyFormat.Unspecified;

    private static IEnumerable<BadInputCase> CallbackCases(ValidRequest valid)
    {
        // Authentication first: these are answered UNAUTHENTICATED, naming what failed.
        yield return Set(valid, "provider", "", finish: false, code: StatusCode.Unauthenticated);
        yield return Set(valid, "provider", "no-such-provider", finish: false, code: StatusCode.Unauthenticated, name: "unknown");
        yield return Set(valid, "secret_id", "", finish: false, code: StatusCode.Unauthenticated);
        yield return Set(valid, "secret_id", "sim-9", finish: false, code: StatusCode.Unauthenticated, name: "unknown");
        yield return Set(valid, "signature", "", finish: false, code: StatusCode.Unauthenticated);
        yield return Set(valid, "signature", "not hex", finish: false, code: StatusCode.Unauthenticated);
        yield return Set(valid, "signature", Hex64, finish: false, code: StatusCode.Unauthenticated, name: "wrong HMAC");
        yield return Set(valid, "timestamp_unix_seconds", 0, code: StatusCode.Unauthenticated);
        yield return Set(valid, "timestamp_unix_seconds", -1, code: StatusCode.Unauthenticated);
        yield return Set(valid, "timestamp_unix_seconds", "an hour ahead", (m, _) => ProtoPath.Set(m, "timestamp_unix_seconds", DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds()), StatusCode.Unauthenticated);
        // Signed, but not a valid result document.
        yield return Set(valid, "payload", new byte[VerificationPayload.MaxBytes + 1], name: "over 64 KiB");
        yield return Set(valid, "payload", Array.Empty<byte>(), name: "empty");
        yield return Set(valid, "payload", Encoding.UTF8.GetBytes("not json"), name: "not JSON");
        yield return Set(valid, "payload", "status unknown", (m, t) => ProtoPath.Set(m, "payload", Document(t.SessionRef, status: "maybe")), StatusCode.InvalidArgument);
        yield return Set(valid, "payload", "no event_id", (m, t) => ProtoPath.Set(m, "payload", Document(t.SessionRef, eventId: null)), StatusCode.InvalidArgument);
        yield return Set(valid, "payload", "occurred_at not RFC 3339", (m, t) => ProtoPath.Set(m, "payload", Document(t.SessionRef, occurredAt: "yesterday")), StatusCode.InvalidArgument);
        yield return Set(valid, "session_ref", "unknown", (m, _) => ProtoPath.Set(m, "payload", Document("sim_" + Guid.NewGuid().ToString("N"))), StatusCode.NotFound);
    }

    private static byte[] Document(string sessionRef, string? status = "approved", string? eventId = "", string? occurredAt = "") =>
        VerificationPayload.Serialize(new VerificationPayload.Document(
            eventId == "" ? Tenant.Fresh("evt") : eventId, sessionRef, status, "substantial",
            occurredAt == "" ? DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ") : occurredAt, null));

    private static IEnumerable<BadInputCase> PemCases(ValidRequest valid, string field)
    {
        yield return Set(valid, field, "");
        yield return Set(valid, field, "not a PEM", name: "garbage");
        using var rsa = RSA.Create(2048);
        yield return Set(valid, field, rsa.ExportSubjectPublicKeyInfoPem(), name: "RSA key");
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        yield return Set(valid, field, p384.ExportSubjectPublicKeyInfoPem(), name: "P-384 key");
        using var p256 = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        yield return Set(valid, field, p256.ExportPkcs8PrivateKeyPem(), name: "private key");
        yield return Set(valid, field, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", name: "truncated");
    }

    private static IEnumerable<BadInputCase> InventoryCases(ValidRequest valid)
    {
        yield return Set(valid, "inventory[0].count", 0);
        yield return Set(valid, "inventory[0].count", -1);
        yield return Set(valid, "inventory[0].count", 100_001);
        yield return Set(valid, "inventory[0].accelerator_model", "");
        yield return Set(valid, "inventory[0].accelerator_model", "NOT-A-GPU", name: "unknown accelerator");
        yield return Set(valid, "inventory[1].accelerator_model", "duplicate", (m, _) =>
        {
            var list = Inventory(m);
            list.Clear();
            list.Add(new AcceleratorInventory { AcceleratorModel = Tenant.Model, Count = 1 });
            list.Add(new AcceleratorInventory { AcceleratorModel = Tenant.Model, Count = 2 });
        }, StatusCode.InvalidArgument);
        yield return Set(valid, "inventory", "65 entries", (m, _) =>
        {
            var list = Inventory(m);
            list.Clear();
            list.AddRange(Enumerable.Range(0, 65).Select(_ => new AcceleratorInventory { AcceleratorModel = Tenant.Model, Count = 1 }));
        }, StatusCode.InvalidArgument);
    }

    private static Google.Protobuf.Collections.RepeatedField<AcceleratorInventory> Inventory(IMessage request) =>
        (Google.Protobuf.Collections.RepeatedField<AcceleratorInventory>)request.Descriptor.FindFieldByName("inventory").Accessor.GetValue(request);

    private static IEnumerable<BadInputCase> SubmissionCases(ValidRequest valid)
    {
        yield return Set(valid, "attestation", null, name: "missing");
        foreach (var id in new[] { "attestation_id", "marketplace_id", "lease_id", "account_id" })
        {
            foreach (var c in Ids(valid, "attestation." + id))
            {
                yield return c;
            }
        }

        yield return Set(valid, "attestation.provider_id", "");
        yield return Set(valid, "attestation.provider_id", Illegal, name: "illegal");
        yield return Set(valid, "attestation.provider_id", "unknown", (m, _) => ProtoPath.Set(m, "attestation.provider_id", "prov-unknown"), StatusCode.NotFound) with
        {
            Headers = (f, t) => f.As(Roles.Provider, t.Marketplace, "prov-unknown"),
        };
        yield return Set(valid, "attestation.accelerator_model", "");
        yield return Set(valid, "attestation.accelerator_model", "NOT-A-GPU", name: "unknown accelerator");
        yield return Set(valid, "attestation.accelerator_model", "A100", name: "not in the inventory");
        yield return Set(valid, "attestation.accelerator_count", 0);
        yield return Set(valid, "attestation.accelerator_count", -1);
        yield return Set(valid, "attestation.accelerator_count", 100_001);
        yield return Set(valid, "attestation.accelerator_count", Tenant.InventoryCount + 1, name: "above the inventory");
        yield return Set(valid, "attestation.flop_units", -1);
        yield return Set(valid, "attestation.flop_units", 1_000_000_000_000, name: "above the physical peak");
        yield return Set(valid, "attestation.precision", PrecisionClass.Unspecified);
        yield return Set(valid, "attestation.precision", 99);
        yield return Set(valid, "attestation.workload_class", 99);
        yield return Set(valid, "attestation.workload_commitment", "");
        yield return Set(valid, "attestation.workload_commitment", new string('A', 64), name: "upper case");
        yield return Set(valid, "attestation.workload_commitment", new string('a', 63), name: "63 chars");
        yield return Set(valid, "attestation.sequence", 0);
        yield return Set(valid, "attestation.sequence", -1);
        yield return Set(valid, "attestation.interval_start", null, name: "missing");
        yield return Set(valid, "attestation.interval_start", new Timestamp { Seconds = -1 }, name: "before 1970");
        yield return Set(valid, "attestation.interval_end", null, name: "missing");
        yield return Set(valid, "attestation.signed_at", null, name: "missing");
        yield return Set(valid, "attestation.interval_end", "equal to start", (m, _) =>
        {
            var a = ((SubmitAttestationRequest)m).Attestation;
            a.IntervalEnd = a.IntervalStart.Clone();
        }, StatusCode.InvalidArgument);
        yield return Set(valid, "attestation.interval_end", "with nanos", (m, _) => ((SubmitAttestationRequest)m).Attestation.IntervalEnd.Nanos = 5, StatusCode.InvalidArgument);
        yield return Set(valid, "attestation.interval_start", "32 days before the end", (m, _) =>
        {
            var a = ((SubmitAttestationRequest)m).Attestation;
            a.IntervalStart = Timestamp.FromDateTimeOffset(a.IntervalEnd.ToDateTimeOffset().AddDays(-32));
        }, StatusCode.InvalidArgument, field: "attestation.interval_end");
        // The interval moves; signed_at stays just now, when the provider's key is valid.
        yield return Set(valid, "attestation.interval_end", "in the future", (m, _) => Shift(m, TimeSpan.FromHours(1)), StatusCode.InvalidArgument);
        yield return Set(valid, "attestation.interval_end", "8 days old", (m, _) => Shift(m, TimeSpan.FromDays(-8)), StatusCode.InvalidArgument);
        yield return Set(valid, "attestation.signed_at", "in the future", (m, _) =>
            ((SubmitAttestationRequest)m).Attestation.SignedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3600)), StatusCode.InvalidArgument);
        yield return Set(valid, "attestation.signed_at", "before the interval's end", (m, _) =>
        {
            // The end within the tolerated skew ahead, signed_at well before it but after the key's registration.
            var a = ((SubmitAttestationRequest)m).Attestation;
            var now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            a.IntervalEnd = Timestamp.FromDateTimeOffset(now.AddMinutes(4));
            a.IntervalStart = Timestamp.FromDateTimeOffset(now.AddMinutes(-6));
            a.SignedAt = Timestamp.FromDateTimeOffset(now.AddMinutes(-2));
        }, StatusCode.InvalidArgument);
        yield return Set(valid, "key_id", "", finish: false);
        yield return Set(valid, "key_id", Illegal, finish: false, name: "illegal");
        yield return Set(valid, "key_id", "unknown", (m, _) => ProtoPath.Set(m, "key_id", "key-unknown"), StatusCode.FailedPrecondition, finish: false);
        yield return Set(valid, "signature", Array.Empty<byte>(), finish: false, name: "empty");
        yield return Set(valid, "signature", new byte[63], finish: false, name: "63 bytes");
        yield return Set(valid, "signature", new byte[64], finish: false, name: "64 zero bytes");
        yield return Set(valid, "signature", "another key's", (m, _) =>
        {
            using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = (SubmitAttestationRequest)m;
            request.Signature = ByteString.CopyFrom(AttestationSignature.Sign(request.Attestation, other));
        }, StatusCode.InvalidArgument, finish: false);
    }

    /// <summary>The stream answers a refused item with a REJECTED receipt naming the field (reason_codes "field:&lt;path&gt;").</summary>
    private static BadInputCase AsStreamed(BadInputCase unary) => unary with
    {
        Code = StatusCode.OK,
        ExtraCheck = outcome =>
        {
            var receipts = outcome.Responses.Cast<SubmitAttestationResponse>().Select(r => r.Receipt).ToList();
            if (receipts.Count != 1 || receipts[0].Outcome != Outcome.Rejected)
            {
                return $"expected one REJECTED receipt, got {string.Join("; ", receipts.Select(r => r.Outcome + " [" + string.Join(", ", r.ReasonCodes) + "]"))}";
            }

            return receipts[0].ReasonCodes.Contains("field:" + unary.Field)
                ? null
                : $"the receipt's reason_codes [{string.Join(", ", receipts[0].ReasonCodes)}] do not name field:{unary.Field} (the unary RPC answers {unary.Code})";
        },
    };

    private static void Shift(IMessage m, TimeSpan by)
    {
        var a = ((SubmitAttestationRequest)m).Attestation;
        a.IntervalStart = Timestamp.FromDateTimeOffset(a.IntervalStart.ToDateTimeOffset() + by);
        a.IntervalEnd = Timestamp.FromDateTimeOffset(a.IntervalEnd.ToDateTimeOffset() + by);
    }

    private static SubmitAttestationRequest Resign(SubmitAttestationRequest request, Tenant tenant)
    {
        if (request.Attestation is not null)
        {
            request.Signature = ByteString.CopyFrom(Tenant.TrySign(request.Attestation, tenant.ProviderKey));
        }

        return request;
    }

    private static SubmitVerificationResultRequest Resign(SubmitVerificationResultRequest request)
    {
        request.Signature = CallbackSignature.ComputeHex(Encoding.UTF8.GetBytes(Deployment.IdentitySecret), request.TimestampUnixSeconds, request.Payload.Span);
        return request;
    }

    // ---- Case builders -----------------------------------------------------------------------

    /// <summary>Empty (when required), 129 characters, and characters outside [A-Za-z0-9._:-].</summary>
    private static IEnumerable<BadInputCase> Ids(ValidRequest valid, string path, bool required = true)
    {
        if (required)
        {
            yield return Set(valid, path, "");
        }

        yield return Set(valid, path, TooLongId, name: "129 chars");
        yield return Set(valid, path, Illegal, name: "illegal");
    }

    private static IEnumerable<BadInputCase> Reasons(ValidRequest valid, int max)
    {
        yield return Set(valid, "reason", "");
        yield return Set(valid, "reason", "   ");
        yield return Set(valid, "reason", new string('r', max + 1), name: $"{max + 1} chars");
    }

    private static BadInputCase UnknownId(ValidRequest valid, string path, StatusCode code = StatusCode.NotFound) =>
        Set(valid, path, "unknown", (m, _) => ProtoPath.Set(m, path, Tenant.Fresh("unknown")), code);

    /// <summary>The field at <paramref name="path"/> set to <paramref name="value"/>; INVALID_ARGUMENT naming it unless told otherwise.</summary>
    private static BadInputCase Set(ValidRequest valid, string path, object? value, StatusCode code = StatusCode.InvalidArgument, string? field = null, string? name = null, bool finish = true) =>
        new($"{valid.Name}/{path}={name ?? Describe(value)}", valid, (m, _) => ProtoPath.Set(m, path, value), code, field ?? path, finish);

    private static BadInputCase Set(ValidRequest valid, string path, string name, Action<IMessage, Tenant> breakIt, StatusCode code, bool finish = true, string? field = null, Action<IMessage, Tenant>? breakFirst = null) =>
        new($"{valid.Name}/{path}={name}", valid, breakFirst is null ? breakIt : (m, t) => { breakFirst(m, t); breakIt(m, t); }, code, field ?? path, finish);

    private static string Describe(object? value) => value switch
    {
        null => "missing",
        "" => "empty",
        string s when string.IsNullOrWhiteSpace(s) => "blank",
        string s => s,
        byte[] b => $"{b.Length} bytes",
        System.Enum e => e.ToString(),
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "?",
    };

    private static ValidRequest Kyc(string name, string? role, Func<Tenant, IMessage> build, Func<IMessage, Tenant, IMessage>? finish = null) =>
        new(SecurityFixture.Method(KycTiering.Descriptor, name), role, build, finish);

    private static ValidRequest Attestation(string name, string? role, Func<Tenant, IMessage> build, Func<IMessage, Tenant, IMessage>? finish = null) =>
        new(SecurityFixture.Method(WorkloadAttestation.Descriptor, name), role, build, finish);

    private static ValidRequest Enforcement(string name, string? role, Func<Tenant, IMessage> build) =>
        new(SecurityFixture.Method(ThresholdEnforcement.Descriptor, name), role, build);
}
