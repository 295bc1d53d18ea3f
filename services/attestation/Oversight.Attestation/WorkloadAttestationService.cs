using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Oversight.Attestation.Data;
using Oversight.Attestation.Ingest;
using Oversight.Attestation.Signing;
using Oversight.Attestation.V1;
using Oversight.Hosting;
using Oversight.Hosting.Auth;
using Oversight.Policy.Accelerators;

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
    AcceleratorCatalogue catalogue,
    TimeProvider clock,
    IOptions<AttestationOptions> options) : WorkloadAttestation.WorkloadAttestationBase
{
    private const int MaxInventoryEntries = 64;
    private const int MaxExportAccountIds = 1000;
    private const int MaxReasonLength = 512;
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

    public override async Task<GetAttestationResponse> GetAttestation(GetAttestationRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Provider, Roles.Auditor, Roles.Operator, Roles.Service);
        new Validation().CheckId(request.AttestationId, "attestation_id").ThrowIfInvalid();

        var entry = await db.Ledger.AsNoTracking().SingleOrDefaultAsync(e => e.AttestationId == request.AttestationId, context.CancellationToken);
        // Another marketplace's (or another provider's) attestation answers exactly like a
        // missing one, so ids cannot be probed across tenants.
        var visible = entry is not null && (caller.IsService ||
            (entry.MarketplaceId == caller.Marketplace && (caller.Role != Roles.Provider || entry.ProviderId == caller.Provider)));
        if (!visible)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"attestation_id '{request.AttestationId}' is not in the ledger."));
        }

        return new GetAttestationResponse { Attestation = AttestationMapping.ToAttestation(entry!), Receipt = AttestationMapping.ToReceipt(entry!) };
    }

    public override async Task ExportAttestations(ExportAttestationsRequest request, IServerStreamWriter<ExportAttestationsResponse> responseStream, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Auditor, Roles.Service);
        var v = new Validation()
            .CheckId(request.MarketplaceId, "marketplace_id", required: !caller.IsService)
            .Check(request.AfterPosition >= 0, "after_position", "after_position must not be negative.")
            .Check(request.Limit >= 0, "limit", "limit must not be negative (0 means no cap).")
            .Check(request.AccountIds.Count <= MaxExportAccountIds, "account_ids", $"account_ids may hold at most {MaxExportAccountIds} ids.");
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
