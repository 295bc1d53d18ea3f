using Grpc.Core;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Oversight.Attestation.Data;
using Oversight.Attestation.Log;
using Oversight.Attestation.Signing;
using Oversight.Attestation.V1;
using Oversight.Contracts;
using Oversight.Hosting.Outbox;
using Oversight.Policy.Accelerators;
using PolicyPrecision = Oversight.Policy.PrecisionClass;

namespace Oversight.Attestation.Ingest;

/// <summary>
/// The verifier: checks a structurally valid, caller-authorised submission against the
/// registry, the clock and the catalogue, then stores it in the ledger and the log in one
/// transaction with its UsageAttested event. Every refusal is an RpcException, and nothing of
/// a refused attestation is stored except the review row of a conflict.
/// </summary>
public sealed class AttestationIngest(
    AttestationDbContext db,
    TimeProvider clock,
    IOptions<AttestationOptions> options,
    AcceleratorCatalogue catalogue,
    OutboxSignal outboxSignal,
    AttestationMetrics metrics,
    ILogger<AttestationIngest> logger)
{
    private const int MaxStoreAttempts = 3;

    private readonly AttestationOptions _options = options.Value;

    public async Task<Receipt> SubmitAsync(SubmitAttestationRequest request, CancellationToken cancellationToken)
    {
        try
        {
            var receipt = await AppraiseAndStoreAsync(request, cancellationToken);
            metrics.Recorded(receipt.Outcome);
            return receipt;
        }
        catch (RpcException e)
        {
            metrics.Refused(e.StatusCode);
            throw;
        }
    }

    private async Task<Receipt> AppraiseAndStoreAsync(SubmitAttestationRequest request, CancellationToken cancellationToken)
    {
        var a = request.Attestation;
        var canonical = AttestationCanonicalForm.Encode(a);
        var signature = request.Signature.ToByteArray();

        // A retry of what is already stored gets its receipt, whatever happened since
        // (clock moved on, key revoked later): idempotent on attestation_id.
        var existing = await db.Ledger.AsNoTracking().SingleOrDefaultAsync(e => e.AttestationId == a.AttestationId, cancellationToken);
        if (existing is not null && IsSame(existing, canonical, signature))
        {
            return AttestationMapping.ToReceipt(existing);
        }

        var provider = await db.Providers.AsNoTracking()
            .SingleOrDefaultAsync(p => p.MarketplaceId == a.MarketplaceId && p.ProviderId == a.ProviderId, cancellationToken)
            ?? throw AttestationErrors.Of(StatusCode.NotFound, ReasonCodes.ProviderUnknown, "attestation.provider_id",
                $"attestation.provider_id '{a.ProviderId}' is not registered in marketplace '{a.MarketplaceId}'.");

        var key = await db.ProviderKeys.AsNoTracking()
            .SingleOrDefaultAsync(k => k.MarketplaceId == a.MarketplaceId && k.ProviderId == a.ProviderId && k.KeyId == request.KeyId, cancellationToken)
            ?? throw AttestationErrors.Of(StatusCode.FailedPrecondition, ReasonCodes.KeyUnknown, "key_id",
                $"key_id '{request.KeyId}' is not registered for provider '{a.ProviderId}'; register or rotate the key first.");

        VerifySignature(key, canonical, signature);
        CheckKeyActive(key, a.SignedAt.ToDateTimeOffset());

        // The same content signed again (ECDSA signatures differ each time) is a retry, not a
        // conflict: it gets the stored receipt, and the stored leaf keeps its first signature.
        if (existing is not null && existing.CanonicalBytes.AsSpan().SequenceEqual(canonical))
        {
            return AttestationMapping.ToReceipt(existing);
        }

        // Conflicts are recorded for review only once the signature shows they come from the provider.
        if (existing is not null)
        {
            throw await ConflictAsync(ReasonCodes.DuplicateIdDifferentBytes, request, canonical,
                $"ledger position {existing.Position} holds attestation_id '{a.AttestationId}' with other bytes",
                "attestation.attestation_id", $"attestation.attestation_id '{a.AttestationId}' is already recorded with different content.", cancellationToken);
        }

        await CheckSequenceUnusedAsync(request, canonical, cancellationToken);

        var now = clock.GetUtcNow();
        CheckFreshness(a, now);
        var appraisal = Appraise(a, provider);
        return await StoreAsync(request, canonical, signature, appraisal, cancellationToken);
    }

    private static bool IsSame(LedgerEntry entry, byte[] canonical, byte[] signature) =>
        entry.CanonicalBytes.AsSpan().SequenceEqual(canonical) && entry.Signature.AsSpan().SequenceEqual(signature);

    private static void VerifySignature(ProviderKeyRecord key, byte[] canonical, byte[] signature)
    {
        using var publicKey = AttestationSignature.TryImportP256PublicKey(key.PublicKeyPem, out var error)
            ?? throw new InvalidOperationException($"Stored key '{key.KeyId}' of provider '{key.ProviderId}' is unusable: {error}");
        if (!AttestationSignature.Verify(canonical, signature, publicKey))
        {
            throw AttestationErrors.Invalid(ReasonCodes.SignatureInvalid, "signature",
                $"does not verify with key '{key.KeyId}' over the canonical bytes (ECDSA P-256, SHA-256, IEEE P1363; see docs/attestation-format.md).");
        }
    }

    private void CheckKeyActive(ProviderKeyRecord key, DateTimeOffset signedAt)
    {
        // Revocation is exact: from revoked_at on, the key signs nothing.
        if (key.RevokedAt is { } revokedAt && signedAt >= revokedAt)
        {
            throw AttestationErrors.Of(StatusCode.FailedPrecondition, ReasonCodes.KeyRevoked, "key_id",
                $"key_id '{key.KeyId}' was revoked at {AttestationCanonicalForm.FormatTime(revokedAt)}; attestation.signed_at is not before it.");
        }

        if (key.ValidUntil is { } until && signedAt >= until)
        {
            throw AttestationErrors.Of(StatusCode.FailedPrecondition, ReasonCodes.KeyExpired, "key_id",
                $"key_id '{key.KeyId}' was valid until {AttestationCanonicalForm.FormatTime(until)} (rotated); attestation.signed_at is not before it.");
        }

        // A key is used right after it is registered; a provider clock slightly behind ours is tolerated.
        if (signedAt < key.ValidFrom - _options.MaxClockSkew)
        {
            throw AttestationErrors.Of(StatusCode.FailedPrecondition, ReasonCodes.KeyNotYetValid, "key_id",
                $"key_id '{key.KeyId}' is valid from {AttestationCanonicalForm.FormatTime(key.ValidFrom)}; attestation.signed_at is before it.");
        }
    }

    private void CheckFreshness(UsageAttestation a, DateTimeOffset now)
    {
        var end = a.IntervalEnd.ToDateTimeOffset();
        var signedAt = a.SignedAt.ToDateTimeOffset();
        var skew = _options.MaxClockSkew;
        if (end > now + skew)
        {
            throw AttestationErrors.Invalid(ReasonCodes.IntervalEndInFuture, "attestation.interval_end",
                $"lies {(end - now).TotalSeconds:0} s in the future (tolerated skew {skew.TotalSeconds:0} s).");
        }

        if (end < now - _options.MaxAge)
        {
            throw AttestationErrors.Invalid(ReasonCodes.TooOld, "attestation.interval_end",
                $"is older than the maximum age of {_options.MaxAge.TotalHours:0.##} h.");
        }

        if (signedAt > now + skew)
        {
            throw AttestationErrors.Invalid(ReasonCodes.SignedAtInFuture, "attestation.signed_at",
                $"lies {(signedAt - now).TotalSeconds:0} s in the future (tolerated skew {skew.TotalSeconds:0} s).");
        }

        // Usage cannot be attested before it ended. This also bounds how far back a holder of a
        // revoked key could date a signature: never before the usage it claims.
        if (signedAt < end - skew)
        {
            throw AttestationErrors.Invalid(ReasonCodes.SignedBeforeIntervalEnd, "attestation.signed_at",
                "is before attestation.interval_end: usage is attested after it happened.");
        }
    }

    private Appraisal Appraise(UsageAttestation a, ProviderRecord provider)
    {
        if (!catalogue.TryGet(a.AcceleratorModel, out var accelerator))
        {
            throw AttestationErrors.Invalid(ReasonCodes.AcceleratorUnknown, "attestation.accelerator_model",
                $"'{a.AcceleratorModel}' is not in the accelerator catalogue.");
        }

        var declared = AttestationMapping.ReadInventory(provider.InventoryJson)
            .FirstOrDefault(i => catalogue.TryGet(i.Model, out var m) && m.Model == accelerator.Model);
        if (declared is null)
        {
            throw AttestationErrors.Invalid(ReasonCodes.ModelNotInInventory, "attestation.accelerator_model",
                $"provider '{provider.ProviderId}' has declared no {accelerator.Model} in its inventory.");
        }

        if (a.AcceleratorCount > declared.Count)
        {
            throw AttestationErrors.Invalid(ReasonCodes.CountAboveInventory, "attestation.accelerator_count",
                $"{a.AcceleratorCount} is above the {declared.Count} {accelerator.Model} the provider declared.");
        }

        var precision = (PolicyPrecision)(int)a.Precision;
        var duration = (long)(a.IntervalEnd.ToDateTimeOffset() - a.IntervalStart.ToDateTimeOffset()).TotalSeconds;
        var maxUnits = new FlopEstimator(catalogue).MaxPlausibleUnits(accelerator.Model, precision, a.AcceleratorCount, duration);
        if (a.FlopUnits > maxUnits)
        {
            throw AttestationErrors.Invalid(ReasonCodes.FlopAbovePeak, "attestation.flop_units",
                $"{a.FlopUnits} units is above the physical peak of {maxUnits} units ({a.AcceleratorCount} x {accelerator.Model} at {AttestationCanonicalForm.PrecisionName(a.Precision)} for {duration} s).");
        }

        var peak = accelerator.PlausibilityPeak(precision);
        var utilisation = (double)(a.FlopUnits / (a.AcceleratorCount * peak * duration));
        var flagged = utilisation > _options.UtilisationCeiling;
        return new Appraisal(
            flagged ? Outcome.Flagged : Outcome.Accepted,
            flagged ? [ReasonCodes.UtilisationAboveCeiling] : [],
            utilisation,
            FlopEstimator.GpuSeconds(a.AcceleratorCount, duration));
    }

    private async Task CheckSequenceUnusedAsync(SubmitAttestationRequest request, byte[] canonical, CancellationToken cancellationToken)
    {
        // A holder with this very id is this attestation stored by a parallel call since we
        // looked: the check under the lock answers it idempotently.
        if (await FindSequenceHolderAsync(request.Attestation, cancellationToken) is { } holder && holder.AttestationId != request.Attestation.AttestationId)
        {
            throw await SequenceReusedAsync(request, canonical, holder, cancellationToken);
        }
    }

    private Task<SequenceHolder?> FindSequenceHolderAsync(UsageAttestation a, CancellationToken cancellationToken) =>
        db.Ledger.AsNoTracking()
            .Where(e => e.MarketplaceId == a.MarketplaceId && e.ProviderId == a.ProviderId && e.Sequence == a.Sequence)
            .Select(e => new SequenceHolder(e.AttestationId, e.Position))
            .SingleOrDefaultAsync(cancellationToken);

    private Task<RpcException> SequenceReusedAsync(SubmitAttestationRequest request, byte[] canonical, SequenceHolder holder, CancellationToken cancellationToken) =>
        ConflictAsync(ReasonCodes.SequenceReused, request, canonical,
            $"sequence {request.Attestation.Sequence} is held by attestation '{holder.AttestationId}' at ledger position {holder.Position}",
            "attestation.sequence", $"attestation.sequence {request.Attestation.Sequence} was already used by another attestation of this provider.", cancellationToken);

    /// <summary>Records a conflict in the review table only (never the ledger, log or counters) and returns ALREADY_EXISTS.</summary>
    private async Task<RpcException> ConflictAsync(string reason, SubmitAttestationRequest request, byte[] canonical, string detail, string field, string message, CancellationToken cancellationToken)
    {
        var a = request.Attestation;
        db.ChangeTracker.Clear();
        db.ReviewItems.Add(new ReviewItemRecord
        {
            AttestationId = a.AttestationId,
            MarketplaceId = a.MarketplaceId,
            ProviderId = a.ProviderId,
            ReasonCode = reason,
            Detail = detail,
            KeyId = request.KeyId,
            CanonicalBytes = canonical,
            Signature = request.Signature.ToByteArray(),
            RecordedAt = clock.GetUtcNow(),
        });
        await db.SaveChangesAsync(cancellationToken);
        logger.LogWarning("Attestation {AttestationId} of provider {ProviderId} refused for review: {Reason} ({Detail})", a.AttestationId, a.ProviderId, reason, detail);
        return AttestationErrors.Of(StatusCode.AlreadyExists, reason, field, message);
    }

    private async Task<Receipt> StoreAsync(SubmitAttestationRequest request, byte[] canonical, byte[] signature, Appraisal appraisal, CancellationToken cancellationToken)
    {
        var a = request.Attestation;
        for (var attempt = 1; ; attempt++)
        {
            db.ChangeTracker.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);

            // The row lock on log_state serialises every append, whatever the number of
            // replicas: PostgreSQL holds the row lock until commit; on SQLite the write takes
            // the database's write lock. Leaf indexes are therefore contiguous.
            await db.Database.ExecuteSqlRawAsync("UPDATE log_state SET \"TreeSize\" = \"TreeSize\" WHERE \"Id\" = 1", cancellationToken);

            // Under the lock, look again: a parallel call may have stored this id or sequence.
            var existing = await db.Ledger.AsNoTracking().SingleOrDefaultAsync(e => e.AttestationId == a.AttestationId, cancellationToken);
            if (existing is not null)
            {
                await transaction.RollbackAsync(cancellationToken);
                // The signature was verified above, so equal canonical bytes make this a retry.
                if (existing.CanonicalBytes.AsSpan().SequenceEqual(canonical))
                {
                    return AttestationMapping.ToReceipt(existing);
                }

                throw await ConflictAsync(ReasonCodes.DuplicateIdDifferentBytes, request, canonical,
                    $"ledger position {existing.Position} holds attestation_id '{a.AttestationId}' with other bytes",
                    "attestation.attestation_id", $"attestation.attestation_id '{a.AttestationId}' is already recorded with different content.", cancellationToken);
            }

            if (await FindSequenceHolderAsync(a, cancellationToken) is { } holder)
            {
                await transaction.RollbackAsync(cancellationToken);
                throw await SequenceReusedAsync(request, canonical, holder, cancellationToken);
            }

            var state = await db.LogState.SingleAsync(s => s.Id == 1, cancellationToken);
            var provider = await db.Providers.SingleAsync(p => p.MarketplaceId == a.MarketplaceId && p.ProviderId == a.ProviderId, cancellationToken);
            // PostgreSQL keeps microseconds: a receipt read back later must equal this one.
            var now = clock.GetUtcNow();
            now = now.AddTicks(-(now.Ticks % 10));

            // Gaps are reported, not refused; a sequence below the highest seen (parallel
            // ingest reorders) is fine as long as it was never used.
            var gap = a.Sequence > provider.LastSequence + 1 ? a.Sequence - provider.LastSequence - 1 : 0;
            provider.LastSequence = Math.Max(provider.LastSequence, a.Sequence);

            var leafIndex = state.TreeSize;
            var leafHash = MerkleLog.LeafHash(MerkleLog.LeafBytes(canonical, signature));
            state.Frontier = MerkleLog.Append(state.Frontier, state.TreeSize, leafHash);
            state.TreeSize++;
            state.RootHash = MerkleLog.Root(state.Frontier, state.TreeSize);
            state.UpdatedAt = now;

            var entry = new LedgerEntry
            {
                Position = leafIndex + 1,
                AttestationId = a.AttestationId,
                MarketplaceId = a.MarketplaceId,
                ProviderId = a.ProviderId,
                LeaseId = a.LeaseId,
                AccountId = a.AccountId,
                AcceleratorModel = a.AcceleratorModel,
                AcceleratorCount = a.AcceleratorCount,
                IntervalStart = a.IntervalStart.ToDateTimeOffset(),
                IntervalEnd = a.IntervalEnd.ToDateTimeOffset(),
                Final = a.Final,
                FlopUnits = a.FlopUnits,
                GpuSeconds = appraisal.GpuSeconds,
                Precision = AttestationCanonicalForm.PrecisionName(a.Precision),
                WorkloadCommitment = a.WorkloadCommitment,
                WorkloadClass = AttestationCanonicalForm.WorkloadClassName(a.WorkloadClass),
                SignedAt = a.SignedAt.ToDateTimeOffset(),
                Sequence = a.Sequence,
                KeyId = request.KeyId,
                Signature = signature,
                CanonicalBytes = canonical,
                Outcome = AttestationMapping.OutcomeName(appraisal.Outcome),
                ReasonCodes = string.Join(',', appraisal.ReasonCodes),
                AppraisalPolicyVersion = _options.AppraisalPolicyVersion,
                ImpliedUtilisation = appraisal.ImpliedUtilisation,
                SequenceGap = gap,
                LeafIndex = leafIndex,
                LeafHash = leafHash,
                RecordedAt = now,
            };
            db.Ledger.Add(entry);
            db.AddEvent(new UsageAttested(
                entry.AttestationId, entry.MarketplaceId, entry.ProviderId, entry.LeaseId, entry.AccountId,
                entry.AcceleratorModel, entry.AcceleratorCount, entry.IntervalStart, entry.IntervalEnd, entry.Final,
                entry.FlopUnits, entry.GpuSeconds, entry.Precision, entry.WorkloadClass, entry.Outcome,
                entry.LeafIndex, Convert.ToHexStringLower(leafHash), entry.Position, now), now);

            try
            {
                await db.SaveChangesAsync(cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }
            catch (DbUpdateException e) when (IsUniqueViolation(e) && attempt < MaxStoreAttempts)
            {
                // Only reachable if something bypassed the lock; the next attempt re-reads
                // under the lock and ends as the idempotent answer or a conflict.
                logger.LogWarning(e, "Storing attestation {AttestationId} hit a unique index; retrying", a.AttestationId);
                await transaction.RollbackAsync(CancellationToken.None);
                continue;
            }

            outboxSignal.Notify();
            logger.LogInformation("Attestation {AttestationId} {Outcome} at leaf {LeafIndex}", entry.AttestationId, entry.Outcome, entry.LeafIndex);
            return AttestationMapping.ToReceipt(entry);
        }
    }

    private static bool IsUniqueViolation(DbUpdateException e) =>
        e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } or SqliteException { SqliteErrorCode: 19 };

    private sealed record SequenceHolder(string AttestationId, long Position);

    private sealed record Appraisal(Outcome Outcome, IReadOnlyList<string> ReasonCodes, double ImpliedUtilisation, long GpuSeconds);
}
