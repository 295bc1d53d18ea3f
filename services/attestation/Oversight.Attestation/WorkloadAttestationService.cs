using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Oversight.Attestation.Data;
using Oversight.Attestation.Ingest;
using Oversight.Attestation.Log;
using Oversight.Attestation.V1;
using Oversight.Hosting;
using Oversight.Hosting.Auth;
using Oversight.Policy.Accelerators;
using Oversight.Signing;

namespace Oversight.Attestation;

/// <summary>oversight.attestation.v1.WorkloadAttestation. Methods not overridden here answer UNIMPLEMENTED.</summary>
/// <remarks>
/// Every method checks the caller's role first, then the request's shape (INVALID_ARGUMENT
/// naming the field), then that the caller acts inside the request's marketplace.
/// </remarks>
[Authorize]
public sealed class WorkloadAttestationService(
    AttestationDbContext db,
    AttestationIngest ingest,
    AttestationStream stream,
    LogStore log,
    CheckpointSigner checkpoints,
    AcceleratorCatalogue catalogue,
    TimeProvider clock,
    IOptions<AttestationOptions> options) : WorkloadAttestation.WorkloadAttestationBase
{
    private const int MaxInventoryEntries = 64;
    private const int MaxReasonLength = 512;
    private const int DefaultReviewPageSize = 50;
    private const int MaxReviewPageSize = 1000;
    private static readonly TimeSpan MaxRotationOverlap = TimeSpan.FromDays(365);

    // ---- Provider registry -------------------------------------------------------------

    public override async Task<RegisterProviderResponse> RegisterProvider(RegisterProviderRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator, Roles.Admin);
        var v = new Validation()
            .CheckId(request.MarketplaceId, "marketplace_id")
            .CheckId(request.ProviderId, "provider_id")
            .CheckId(request.KeyId, "key_id");
        var pem = CheckPublicKey(v, request.PublicKeyPem, "public_key_pem");
        var inventory = CheckInventory(v, request.Inventory);
        v.ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var ct = context.CancellationToken;
        if (await FindProviderAsync(request.MarketplaceId, request.ProviderId, ct) is not null)
        {
            throw ProviderExists(request.ProviderId);
        }

        var now = Seconds(clock.GetUtcNow());
        var provider = new ProviderRecord
        {
            MarketplaceId = request.MarketplaceId,
            ProviderId = request.ProviderId,
            RegisteredAt = now,
            InventoryJson = AttestationMapping.WriteInventory(inventory),
        };
        var key = new ProviderKeyRecord
        {
            MarketplaceId = request.MarketplaceId,
            ProviderId = request.ProviderId,
            KeyId = request.KeyId,
            PublicKeyPem = pem!,
            ValidFrom = now,
        };
        db.Providers.Add(provider);
        db.ProviderKeys.Add(key);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } or Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: 19 })
        {
            // Two registrations of one id raced; the other one won.
            throw ProviderExists(request.ProviderId);
        }

        return new RegisterProviderResponse { Provider = AttestationMapping.ToProvider(provider, [key]) };
    }

    public override async Task<GetProviderResponse> GetProvider(GetProviderRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator, Roles.Admin, Roles.Auditor, Roles.Provider);
        new Validation()
            .CheckId(request.MarketplaceId, "marketplace_id")
            .CheckId(request.ProviderId, "provider_id")
            .ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);
        if (caller.Role == Roles.Provider && caller.Provider != request.ProviderId)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "A provider may read only its own registration (provider_id differs from the token's provider)."));
        }

        var provider = await RequireProviderAsync(request.MarketplaceId, request.ProviderId, context.CancellationToken);
        return new GetProviderResponse { Provider = await ToProviderAsync(provider, context.CancellationToken) };
    }

    public override async Task<UpdateProviderInventoryResponse> UpdateProviderInventory(UpdateProviderInventoryRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator, Roles.Admin);
        var v = new Validation()
            .CheckId(request.MarketplaceId, "marketplace_id")
            .CheckId(request.ProviderId, "provider_id");
        var inventory = CheckInventory(v, request.Inventory);
        v.ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var provider = await RequireProviderAsync(request.MarketplaceId, request.ProviderId, context.CancellationToken, tracking: true);
        provider.InventoryJson = AttestationMapping.WriteInventory(inventory);
        await db.SaveChangesAsync(context.CancellationToken);
        return new UpdateProviderInventoryResponse { Provider = await ToProviderAsync(provider, context.CancellationToken) };
    }

    public override async Task<RotateProviderKeyResponse> RotateProviderKey(RotateProviderKeyRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator, Roles.Admin);
        var v = new Validation()
            .CheckId(request.MarketplaceId, "marketplace_id")
            .CheckId(request.ProviderId, "provider_id")
            .CheckId(request.NewKeyId, "new_key_id")
            .Check(request.OverlapSeconds >= 0 && request.OverlapSeconds <= MaxRotationOverlap.TotalSeconds, "overlap_seconds",
                $"overlap_seconds must be 0-{MaxRotationOverlap.TotalSeconds:0} (0 means the configured default).");
        var pem = CheckPublicKey(v, request.NewPublicKeyPem, "new_public_key_pem");
        v.ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var ct = context.CancellationToken;
        var provider = await RequireProviderAsync(request.MarketplaceId, request.ProviderId, ct);
        var keys = await KeysOf(provider).ToListAsync(ct);
        if (keys.Any(k => k.KeyId == request.NewKeyId))
        {
            throw new RpcException(new Status(StatusCode.AlreadyExists, $"new_key_id '{request.NewKeyId}' is already registered for provider '{request.ProviderId}'."));
        }

        var now = Seconds(clock.GetUtcNow());
        var overlap = request.OverlapSeconds > 0 ? TimeSpan.FromSeconds(request.OverlapSeconds) : options.Value.DefaultKeyRotationOverlap;
        var oldKeysEnd = now + overlap;
        foreach (var key in keys.Where(k => k.RevokedAt is null && (k.ValidUntil is null || k.ValidUntil > oldKeysEnd)))
        {
            // Old keys stay valid through the overlap so attestations in flight still verify.
            key.ValidUntil = oldKeysEnd;
        }

        db.ProviderKeys.Add(new ProviderKeyRecord
        {
            MarketplaceId = provider.MarketplaceId,
            ProviderId = provider.ProviderId,
            KeyId = request.NewKeyId,
            PublicKeyPem = pem!,
            ValidFrom = now,
        });
        await db.SaveChangesAsync(ct);
        return new RotateProviderKeyResponse { Provider = await ToProviderAsync(provider, ct) };
    }

    public override async Task<RevokeProviderKeyResponse> RevokeProviderKey(RevokeProviderKeyRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator, Roles.Admin);
        var v = new Validation()
            .CheckId(request.MarketplaceId, "marketplace_id")
            .CheckId(request.ProviderId, "provider_id")
            .CheckId(request.KeyId, "key_id")
            .Check(request.Reason.Length <= MaxReasonLength, "reason", $"reason must be at most {MaxReasonLength} characters.")
            .Check(request.RevokedAt is null || (request.RevokedAt.Seconds >= 0 && request.RevokedAt.Seconds <= 253_402_300_799 && request.RevokedAt.Nanos is >= 0 and < 1_000_000_000),
                "revoked_at", "revoked_at must be a valid timestamp between 1970 and 9999.");
        v.ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var ct = context.CancellationToken;
        var provider = await RequireProviderAsync(request.MarketplaceId, request.ProviderId, ct);
        var key = await KeysOf(provider).SingleOrDefaultAsync(k => k.KeyId == request.KeyId, ct)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"key_id '{request.KeyId}' is not registered for provider '{request.ProviderId}'."));

        var revokedAt = request.RevokedAt?.ToDateTimeOffset() ?? clock.GetUtcNow();
        // Revocation only moves earlier: revoking twice keeps the earlier time, so a retry
        // can never re-validate signatures made after the first revocation.
        if (key.RevokedAt is null || revokedAt < key.RevokedAt)
        {
            key.RevokedAt = revokedAt;
            key.RevocationReason = request.Reason;
            await db.SaveChangesAsync(ct);
        }

        return new RevokeProviderKeyResponse { Provider = await ToProviderAsync(provider, ct) };
    }

    // ---- Attestations ------------------------------------------------------------------

    public override async Task<SubmitAttestationResponse> SubmitAttestation(SubmitAttestationRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Provider);
        AttestationValidator.Validate(request, options.Value.MaxIntervalDuration);
        var a = request.Attestation;
        if (!string.Equals(caller.Provider, a.ProviderId, StringComparison.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                "attestation.provider_id is not the token's provider: a provider attests only for itself."));
        }

        caller.RequireMarketplace(a.MarketplaceId);
        return new SubmitAttestationResponse { Receipt = await ingest.SubmitAsync(request, context.CancellationToken) };
    }

    /// <summary>
    /// Many attestations on one call, one receipt per request in request order. Unlike the unary
    /// RPC, a refused item does not fail the call: it is answered with an OUTCOME_REJECTED receipt
    /// whose reason_codes carry the reason the unary RPC would give (see docs/attestation.md).
    /// </summary>
    public override async Task StreamAttestations(IAsyncStreamReader<SubmitAttestationRequest> requestStream, IServerStreamWriter<SubmitAttestationResponse> responseStream, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Provider);
        await stream.RunAsync(caller, requestStream, responseStream, context.CancellationToken);
    }

    public override async Task<GetAttestationResponse> GetAttestation(GetAttestationRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Provider, Roles.Auditor, Roles.Operator, Roles.Service);
        new Validation()
            .CheckId(request.AttestationId, "attestation_id")
            .CheckId(request.ProviderId, "provider_id", required: false)
            .CheckId(request.MarketplaceId, "marketplace_id", required: false)
            .ThrowIfInvalid();
        if (request.MarketplaceId.Length > 0)
        {
            caller.RequireMarketplace(request.MarketplaceId);
        }

        var isProvider = caller.Role == Roles.Provider;
        if (isProvider && request.ProviderId.Length > 0 && request.ProviderId != caller.Provider)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "A provider may read only its own attestations (provider_id differs from the token's provider)."));
        }

        // Ids are unique per provider only. The search stays inside the caller's marketplace (and
        // a provider's own attestations), so another tenant's entry answers exactly like a missing
        // one and ids cannot be probed across tenants.
        var query = db.Ledger.AsNoTracking().Where(e => e.AttestationId == request.AttestationId);
        var inOneMarketplace = request.MarketplaceId.Length > 0 || !caller.IsService;
        if (inOneMarketplace)
        {
            var marketplace = request.MarketplaceId.Length > 0 ? request.MarketplaceId : caller.Marketplace;
            query = query.Where(e => e.MarketplaceId == marketplace);
        }

        if (isProvider || request.ProviderId.Length > 0)
        {
            var provider = isProvider ? caller.Provider : request.ProviderId;
            query = query.Where(e => e.ProviderId == provider);
        }

        var found = await query.OrderBy(e => e.Position).Take(2).ToListAsync(context.CancellationToken);
        if (found.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"attestation_id '{request.AttestationId}' is not in the ledger."));
        }

        if (found.Count > 1)
        {
            var whose = inOneMarketplace ? "provider_id" : "marketplace_id and provider_id";
            throw Validation.Invalid(inOneMarketplace ? "provider_id" : "marketplace_id",
                $"attestation_id '{request.AttestationId}' was used by more than one provider; give {whose} to say whose.");
        }

        var entry = found[0];
        return new GetAttestationResponse
        {
            Attestation = AttestationMapping.ToAttestation(entry),
            Receipt = AttestationMapping.ToReceipt(entry),
            KeyId = entry.KeyId,
            Signature = Google.Protobuf.ByteString.CopyFrom(entry.Signature),
        };
    }

    public override async Task ExportAttestations(ExportAttestationsRequest request, IServerStreamWriter<ExportAttestationsResponse> responseStream, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Auditor, Roles.Service);
        var v = new Validation()
            .CheckId(request.MarketplaceId, "marketplace_id", required: !caller.IsService)
            .Check(request.AfterPosition >= 0, "after_position", "after_position must not be negative.")
            .Check(request.Limit >= 0, "limit", "limit must not be negative (0 means no cap).")
            .Check(request.AccountIds.Count <= ExportAttestationsRequest.MaxAccountIds, "account_ids", $"account_ids may hold at most {ExportAttestationsRequest.MaxAccountIds} ids.");
        for (var i = 0; i < request.AccountIds.Count; i++)
        {
            v.CheckId(request.AccountIds[i], $"account_ids[{i}]");
        }

        v.ThrowIfInvalid();
        if (!string.IsNullOrEmpty(request.MarketplaceId))
        {
            caller.RequireMarketplace(request.MarketplaceId);
        }

        var ct = context.CancellationToken;
        var accounts = request.AccountIds.Distinct().ToArray();
        var remaining = request.Limit > 0 ? request.Limit : long.MaxValue;
        var after = request.AfterPosition;
        var pageSize = options.Value.ExportPageSize;
        while (remaining > 0)
        {
            // Pages by position: positions commit in order (LedgerEntry), so the cursor never skips a row.
            var query = db.Ledger.AsNoTracking().Where(e => e.Position > after);
            if (!string.IsNullOrEmpty(request.MarketplaceId))
            {
                query = query.Where(e => e.MarketplaceId == request.MarketplaceId);
            }

            if (accounts.Length > 0)
            {
                query = query.Where(e => accounts.Contains(e.AccountId));
            }

            var take = (int)Math.Min(pageSize, remaining);
            var page = await query.OrderBy(e => e.Position).Take(take).ToListAsync(ct);
            foreach (var entry in page)
            {
                await responseStream.WriteAsync(new ExportAttestationsResponse
                {
                    Position = entry.Position,
                    Attestation = AttestationMapping.ToAttestation(entry),
                    Receipt = AttestationMapping.ToReceipt(entry),
                    KeyId = entry.KeyId,
                    Signature = Google.Protobuf.ByteString.CopyFrom(entry.Signature),
                    ProviderScopedId = entry.ProviderScopedId,
                }, ct);
            }

            if (page.Count < take)
            {
                break;
            }

            after = page[^1].Position;
            remaining -= page.Count;
        }
    }

    public override async Task<ListReviewItemsResponse> ListReviewItems(ListReviewItemsRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Auditor, Roles.Compliance);
        var after = 0L;
        new Validation()
            .CheckId(request.MarketplaceId, "marketplace_id")
            .Check(request.PageSize is >= 0 and <= MaxReviewPageSize, "page_size", $"page_size must be 0-{MaxReviewPageSize} (0 means {DefaultReviewPageSize}).")
            .Check(request.PageToken.Length == 0 || (long.TryParse(request.PageToken, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out after) && after > 0),
                "page_token", "page_token must be empty or a next_page_token from an earlier answer.")
            .ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var pageSize = request.PageSize > 0 ? request.PageSize : DefaultReviewPageSize;
        var rows = await db.ReviewItems.AsNoTracking()
            .Where(r => r.MarketplaceId == request.MarketplaceId && r.Id > after)
            .OrderBy(r => r.Id)
            .Take(pageSize + 1)
            .ToListAsync(context.CancellationToken);
        var response = new ListReviewItemsResponse();
        response.Items.AddRange(rows.Take(pageSize).Select(r => new ReviewItem
        {
            Id = r.Id,
            AttestationId = r.AttestationId,
            ProviderId = r.ProviderId,
            ReasonCode = r.ReasonCode,
            RecordedAt = Timestamp.FromDateTimeOffset(r.RecordedAt),
        }));
        if (rows.Count > pageSize)
        {
            // The token is the last id returned: opaque to clients, stable under inserts.
            response.NextPageToken = rows[pageSize - 1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return response;
    }

    // ---- Transparency log --------------------------------------------------------------

    /// <summary>The latest signed checkpoint. Public: anyone may audit the log.</summary>
    [AllowAnonymous]
    public override async Task<GetCheckpointResponse> GetCheckpoint(GetCheckpointRequest request, ServerCallContext context)
    {
        var state = await log.ReadStateAsync(context.CancellationToken);
        return new GetCheckpointResponse
        {
            Note = checkpoints.Sign(state.TreeSize, state.RootHash),
            TreeSize = state.TreeSize,
            RootHash = ByteString.CopyFrom(state.RootHash),
            Origin = checkpoints.Origin,
        };
    }

    /// <summary>The checkpoint-signing public key. Public.</summary>
    [AllowAnonymous]
    public override Task<GetLogPublicKeyResponse> GetLogPublicKey(GetLogPublicKeyRequest request, ServerCallContext context) =>
        Task.FromResult(new GetLogPublicKeyResponse
        {
            PublicKeyPem = checkpoints.PublicKeyPem,
            KeyName = checkpoints.KeyName,
            KeyHash = checkpoints.KeyHash.ToString("x8", System.Globalization.CultureInfo.InvariantCulture),
        });

    /// <summary>Any authenticated caller: a leaf hash reveals nothing of the attestation behind it.</summary>
    public override async Task<GetInclusionProofResponse> GetInclusionProof(GetInclusionProofRequest request, ServerCallContext context)
    {
        Caller.From(context);
        byte[]? leafHash = null;
        var v = new Validation().Check(request.TreeSize >= 0, "tree_size", "tree_size must not be negative (0 means the latest checkpoint).");
        switch (request.LeafCase)
        {
            case GetInclusionProofRequest.LeafOneofCase.LeafIndex:
                v.Check(request.LeafIndex >= 0, "leaf_index", "leaf_index must not be negative.");
                break;
            case GetInclusionProofRequest.LeafOneofCase.LeafHash:
                leafHash = request.LeafHash.Length == 2 * MerkleLog.HashLength && request.LeafHash.All(char.IsAsciiHexDigit) ? Convert.FromHexString(request.LeafHash) : null;
                v.Check(leafHash is not null, "leaf_hash", "leaf_hash must be 64 hex characters (a receipt's leaf_hash).");
                break;
            default:
                v.Add("leaf", "Give leaf_index or leaf_hash.");
                break;
        }

        v.ThrowIfInvalid();
        var ct = context.CancellationToken;
        // A leaf found by hash is looked up before the state is read: the state then includes it.
        long? byHash = null;
        if (leafHash is not null)
        {
            byHash = await db.Ledger.AsNoTracking().Where(e => e.LeafHash == leafHash).OrderBy(e => e.LeafIndex).Select(e => (long?)e.LeafIndex).FirstOrDefaultAsync(ct)
                ?? throw new RpcException(new Status(StatusCode.NotFound, $"leaf_hash {request.LeafHash.ToLowerInvariant()} is not in the log."));
        }

        var state = await log.ReadStateAsync(ct);
        var treeSize = request.TreeSize == 0 ? state.TreeSize : request.TreeSize;
        if (treeSize > state.TreeSize)
        {
            throw new RpcException(new Status(StatusCode.OutOfRange, $"tree_size {treeSize} is beyond the log's current size {state.TreeSize}."));
        }

        var leafIndex = byHash ?? request.LeafIndex;
        if (leafHash is null)
        {
            if (leafIndex >= state.TreeSize)
            {
                throw new RpcException(new Status(StatusCode.OutOfRange, $"leaf_index {leafIndex} is not in the log yet (its size is {state.TreeSize})."));
            }

            leafHash = await db.Ledger.AsNoTracking().Where(e => e.LeafIndex == leafIndex).Select(e => e.LeafHash).SingleAsync(ct);
        }

        if (leafIndex >= treeSize)
        {
            throw Validation.Invalid("tree_size", $"tree_size {treeSize} does not contain leaf {leafIndex}: it must be above the leaf index.");
        }

        var response = new GetInclusionProofResponse { LeafIndex = leafIndex, TreeSize = treeSize, LeafHash = ByteString.CopyFrom(leafHash) };
        response.Hashes.AddRange((await log.InclusionProofAsync(leafIndex, treeSize, ct)).Select(ByteString.CopyFrom));
        return response;
    }

    /// <summary>Any authenticated caller. Both sizes are explicit; first may be 0 or equal to second (an empty proof).</summary>
    public override async Task<GetConsistencyProofResponse> GetConsistencyProof(GetConsistencyProofRequest request, ServerCallContext context)
    {
        Caller.From(context);
        new Validation()
            .Check(request.FirstTreeSize >= 0, "first_tree_size", "first_tree_size must not be negative.")
            .Check(request.SecondTreeSize >= request.FirstTreeSize, "second_tree_size", "second_tree_size must not be below first_tree_size.")
            .ThrowIfInvalid();
        var ct = context.CancellationToken;
        var state = await log.ReadStateAsync(ct);
        if (request.SecondTreeSize > state.TreeSize)
        {
            throw new RpcException(new Status(StatusCode.OutOfRange, $"second_tree_size {request.SecondTreeSize} is beyond the log's current size {state.TreeSize}."));
        }

        var response = new GetConsistencyProofResponse();
        response.Hashes.AddRange((await log.ConsistencyProofAsync(request.FirstTreeSize, request.SecondTreeSize, ct)).Select(ByteString.CopyFrom));
        return response;
    }

    // ---- Helpers ------------------------------------------------------------------------

    private static string? CheckPublicKey(Validation v, string pem, string field)
    {
        using var key = AttestationSignature.TryImportP256PublicKey(pem, out var error);
        if (key is null)
        {
            v.Add(field, $"{field} {error}");
            return null;
        }

        // Stored in one normal form, whatever whitespace the request carried.
        return key.ExportSubjectPublicKeyInfoPem();
    }

    private List<InventoryItem> CheckInventory(Validation v, IList<AcceleratorInventory> inventory)
    {
        var items = new List<InventoryItem>();
        v.Check(inventory.Count <= MaxInventoryEntries, "inventory", $"inventory may list at most {MaxInventoryEntries} models.");
        for (var i = 0; i < inventory.Count; i++)
        {
            var entry = inventory[i];
            var modelField = $"inventory[{i}].accelerator_model";
            var countField = $"inventory[{i}].count";
            v.Check(entry.Count is >= 1 and <= AttestationValidator.MaxAcceleratorCount, countField,
                $"{countField} must be 1-{AttestationValidator.MaxAcceleratorCount}, not {entry.Count}.");
            if (string.IsNullOrEmpty(entry.AcceleratorModel) || !catalogue.TryGet(entry.AcceleratorModel, out var accelerator))
            {
                v.Add(modelField, $"{modelField} '{entry.AcceleratorModel}' is not in the accelerator catalogue.");
                continue;
            }

            if (items.Any(item => item.Model == accelerator.Model))
            {
                v.Add(modelField, $"{modelField} {accelerator.Model} is listed twice; give one entry per model.");
                continue;
            }

            items.Add(new InventoryItem(accelerator.Model, entry.Count));
        }

        return items;
    }

    private Task<ProviderRecord?> FindProviderAsync(string marketplaceId, string providerId, CancellationToken ct, bool tracking = false)
    {
        var providers = tracking ? db.Providers : db.Providers.AsNoTracking();
        return providers.SingleOrDefaultAsync(p => p.MarketplaceId == marketplaceId && p.ProviderId == providerId, ct);
    }

    private async Task<ProviderRecord> RequireProviderAsync(string marketplaceId, string providerId, CancellationToken ct, bool tracking = false) =>
        await FindProviderAsync(marketplaceId, providerId, ct, tracking)
        ?? throw new RpcException(new Status(StatusCode.NotFound, $"provider_id '{providerId}' is not registered in marketplace '{marketplaceId}'."));

    private IQueryable<ProviderKeyRecord> KeysOf(ProviderRecord provider) =>
        db.ProviderKeys.Where(k => k.MarketplaceId == provider.MarketplaceId && k.ProviderId == provider.ProviderId);

    private async Task<Provider> ToProviderAsync(ProviderRecord provider, CancellationToken ct) =>
        AttestationMapping.ToProvider(provider, await KeysOf(provider).AsNoTracking().ToListAsync(ct));

    private static RpcException ProviderExists(string providerId) =>
        new(new Status(StatusCode.AlreadyExists, $"provider_id '{providerId}' is already registered in this marketplace."));

    // Key validity is compared with whole-second signed_at values.
    private static DateTimeOffset Seconds(DateTimeOffset time) => DateTimeOffset.FromUnixTimeSeconds(time.ToUnixTimeSeconds());
}
