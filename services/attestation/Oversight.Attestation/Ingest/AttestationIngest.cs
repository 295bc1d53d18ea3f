using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using Grpc.Core;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Oversight.Attestation.Data;
using Oversight.Attestation.Log;
using Oversight.Attestation.V1;
using Oversight.Contracts;
using Oversight.Hosting.Outbox;
using Oversight.Policy.Accelerators;
using Oversight.Signing;
using PolicyPrecision = Oversight.Policy.PrecisionClass;

namespace Oversight.Attestation.Ingest;

/// <summary>
/// The verifier: checks structurally valid, caller-authorised submissions against the
/// registry, the clock and the catalogue, then stores them in the ledger and the log in one
/// transaction with their UsageAttested events. Nothing of a refused attestation is stored
/// except the review row of a conflict.
/// </summary>
/// <remarks>
/// Two phases, so that the streaming RPC can verify one batch while the previous one is stored:
/// <see cref="VerifyAsync"/> reads what it needs in a few queries and checks signatures in
/// parallel; <see cref="StoreAsync"/> appends the batch under the log_state row lock, checking
/// again for ids and sequence numbers stored meanwhile (by another call, replica or an earlier
/// item of the same batch). The unary RPC is a batch of one.
/// </remarks>
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

    /// <summary>One submission: its receipt, or the RpcException that refuses it.</summary>
    public async Task<Receipt> SubmitAsync(SubmitAttestationRequest request, CancellationToken cancellationToken)
    {
        var result = (await StoreAsync(await VerifyAsync([request], cancellationToken), cancellationToken))[0];
        return result.Receipt ?? throw result.Error!;
    }

    /// <summary>
    /// Phase one: signature, key, duplicates already in the ledger, freshness and plausibility.
    /// The requests must have passed <see cref="AttestationValidator"/> and the caller checks.
    /// </summary>
    public async Task<VerifiedBatch> VerifyAsync(IReadOnlyList<SubmitAttestationRequest> requests, CancellationToken cancellationToken)
    {
        var items = requests.Select(r => new PendingItem(r, AttestationCanonicalForm.Encode(r.Attestation), r.Signature.ToByteArray())).ToList();
        if (items.Count == 0)
        {
            return new VerifiedBatch(items);
        }

        // What the checks read, in a few queries per provider of the batch.
        var existing = new Dictionary<AttestationKey, LedgerEntry>();
        var registrations = new Dictionary<(string, string), Registration?>();
        foreach (var group in items.GroupBy(i => (i.Attestation.MarketplaceId, i.Attestation.ProviderId)))
        {
            var (marketplace, providerId) = group.Key;
            var provider = await db.Providers.AsNoTracking().SingleOrDefaultAsync(p => p.MarketplaceId == marketplace && p.ProviderId == providerId, cancellationToken);
            if (provider is null)
            {
                registrations[group.Key] = null;
                continue;
            }

            foreach (var entry in await StoredOfProviderAsync(marketplace, providerId, group, cancellationToken))
            {
                existing[AttestationKey.Of(entry)] = entry;
            }

            var keys = await db.ProviderKeys.AsNoTracking().Where(k => k.MarketplaceId == marketplace && k.ProviderId == providerId).ToDictionaryAsync(k => k.KeyId, cancellationToken);
            var sequences = group.Select(i => i.Attestation.Sequence).Distinct().ToList();
            var holders = await db.Ledger.AsNoTracking()
                .Where(e => e.MarketplaceId == marketplace && e.ProviderId == providerId && sequences.Contains(e.Sequence))
                .Select(e => new SequenceHolder(e.Sequence, e.AttestationId, e.Position))
                .ToDictionaryAsync(h => h.Sequence, cancellationToken);
            registrations[group.Key] = new Registration(provider, AttestationMapping.ReadInventory(provider.InventoryJson), keys, holders);
        }

        var now = clock.GetUtcNow();
        ForEach(items, () => new Dictionary<ProviderKeyRecord, ECDsa>(), (item, publicKeys) =>
        {
            try
            {
                Verify(item, existing.GetValueOrDefault(AttestationKey.Of(item.Attestation)), registrations[(item.Attestation.MarketplaceId, item.Attestation.ProviderId)], now, publicKeys);
            }
            catch (RpcException e)
            {
                item.Error = e;
            }
        }, publicKeys =>
        {
            foreach (var key in publicKeys.Values)
            {
                key.Dispose();
            }
        });
        return new VerifiedBatch(items);
    }

    /// <summary>
    /// Phase two: records the batch's conflicts for review and appends the rest to the ledger and
    /// the log in one transaction, in request order. Returns one result per request, in order.
    /// </summary>
    public async Task<IReadOnlyList<IngestResult>> StoreAsync(VerifiedBatch batch, CancellationToken cancellationToken)
    {
        var items = batch.Items;
        IngestResult[] results;
        if (!items.Any(i => i.Appraisal is not null))
        {
            // Nothing to append: no need for the log's lock.
            db.ChangeTracker.Clear();
            results = [.. items.Select(i => i.Conflict is { } c ? new IngestResult(null, AddConflict(i, c)) : new IngestResult(i.Receipt, i.Error))];
            if (items.Any(i => i.Conflict is not null))
            {
                await db.SaveChangesAsync(cancellationToken);
                LogConflicts(items.Where(i => i.Conflict is not null).Select(i => (i, i.Conflict!)));
            }

            return Count(results);
        }

        for (var attempt = 1; ; attempt++)
        {
            db.ChangeTracker.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            // The row lock on log_state serialises every append, whatever the number of
            // replicas: PostgreSQL holds the row lock until commit; on SQLite the write takes
            // the database's write lock. Leaf indexes are therefore contiguous.
            await db.Database.ExecuteSqlRawAsync("UPDATE log_state SET \"TreeSize\" = \"TreeSize\" WHERE \"Id\" = 1", cancellationToken);

            var appended = await AppendUnderLockAsync(items, cancellationToken);
            results = appended.Results;
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }
            catch (DbUpdateException e) when (IsUniqueViolation(e) && attempt < MaxStoreAttempts)
            {
                // Only reachable if something bypassed the lock; the next attempt re-reads
                // under the lock and ends as the idempotent answer or a conflict.
                logger.LogWarning(e, "Storing a batch of {Count} attestations hit a unique index; retrying", items.Count);
                await transaction.RollbackAsync(CancellationToken.None);
                continue;
            }

            LogConflicts(appended.Conflicts);
            if (appended.Entries.Count > 0)
            {
                outboxSignal.Notify();
                logger.LogInformation("Stored {Count} attestations at leaves {First}-{Last}", appended.Entries.Count, appended.Entries[0].LeafIndex, appended.Entries[^1].LeafIndex);
            }

            return Count(results);
        }
    }

    private async Task<Appended> AppendUnderLockAsync(IReadOnlyList<PendingItem> items, CancellationToken cancellationToken)
    {
        // Under the lock, look again: a parallel call may have stored these ids or sequences.
        var candidates = items.Where(i => i.Appraisal is not null).ToList();
        var stored = new Dictionary<AttestationKey, LedgerEntry>();
        var holders = new Dictionary<(string, string, long), SequenceHolder>();
        var providers = new Dictionary<(string, string), ProviderRecord>();
        foreach (var group in candidates.GroupBy(i => (i.Attestation.MarketplaceId, i.Attestation.ProviderId)))
        {
            var (marketplace, providerId) = group.Key;
            foreach (var entry in await StoredOfProviderAsync(marketplace, providerId, group, cancellationToken))
            {
                stored[AttestationKey.Of(entry)] = entry;
            }

            var sequences = group.Select(i => i.Attestation.Sequence).Distinct().ToList();
            var found = await db.Ledger.AsNoTracking()
                .Where(e => e.MarketplaceId == marketplace && e.ProviderId == providerId && sequences.Contains(e.Sequence))
                .Select(e => new SequenceHolder(e.Sequence, e.AttestationId, e.Position))
                .ToListAsync(cancellationToken);
            foreach (var holder in found)
            {
                holders[(marketplace, providerId, holder.Sequence)] = holder;
            }

            providers[group.Key] = await db.Providers.SingleAsync(p => p.MarketplaceId == marketplace && p.ProviderId == providerId, cancellationToken);
        }

        var state = await db.LogState.SingleAsync(s => s.Id == 1, cancellationToken);
        // PostgreSQL keeps microseconds: a receipt read back later must equal this one.
        var now = clock.GetUtcNow();
        now = now.AddTicks(-(now.Ticks % 10));

        var results = new IngestResult[items.Count];
        var entries = new List<LedgerEntry>();
        var conflicts = new List<(PendingItem, Conflict)>();
        var completed = new List<TreeNode>();
        for (var n = 0; n < items.Count; n++)
        {
            var item = items[n];
            var a = item.Attestation;
            if (item.Conflict is { } early)
            {
                results[n] = new IngestResult(null, AddConflict(item, early));
                conflicts.Add((item, early));
                continue;
            }

            if (item.Appraisal is not { } appraisal)
            {
                results[n] = new IngestResult(item.Receipt, item.Error);
                continue;
            }

            if (stored.TryGetValue(AttestationKey.Of(a), out var existing))
            {
                // The signature was verified, so equal canonical bytes make this a retry.
                if (existing.CanonicalBytes.AsSpan().SequenceEqual(item.Canonical))
                {
                    results[n] = new IngestResult(AttestationMapping.ToReceipt(existing), null);
                    continue;
                }

                var conflict = DuplicateId(a, existing.Position);
                results[n] = new IngestResult(null, AddConflict(item, conflict));
                conflicts.Add((item, conflict));
                continue;
            }

            if (holders.TryGetValue((a.MarketplaceId, a.ProviderId, a.Sequence), out var holder))
            {
                var conflict = SequenceReused(a, holder);
                results[n] = new IngestResult(null, AddConflict(item, conflict));
                conflicts.Add((item, conflict));
                continue;
            }

            var provider = providers[(a.MarketplaceId, a.ProviderId)];
            // Gaps are reported, not refused; a sequence below the highest seen (parallel
            // ingest reorders) is fine as long as it was never used.
            var gap = a.Sequence > provider.LastSequence + 1 ? a.Sequence - provider.LastSequence - 1 : 0;
            provider.LastSequence = Math.Max(provider.LastSequence, a.Sequence);

            var leafIndex = state.TreeSize;
            var leafHash = MerkleLog.LeafHash(MerkleLog.LeafBytes(item.Canonical, item.Signature));
            state.Frontier = MerkleLog.Append(state.Frontier, state.TreeSize, leafHash, completed);
            state.TreeSize++;

            var entry = NewEntry(item, appraisal, leafIndex, leafHash, gap, now);
            db.Ledger.Add(entry);
            db.AddEvent(new UsageAttested(
                entry.AttestationId, entry.MarketplaceId, entry.ProviderId, entry.LeaseId, entry.AccountId,
                entry.AcceleratorModel, entry.AcceleratorCount, entry.IntervalStart, entry.IntervalEnd, entry.Final,
                entry.FlopUnits, entry.GpuSeconds, entry.Precision, entry.WorkloadClass, entry.Outcome,
                entry.LeafIndex, Convert.ToHexStringLower(leafHash), entry.Position, now, entry.ProviderScopedId), now);
            entries.Add(entry);
            stored[AttestationKey.Of(a)] = entry;
            holders[(a.MarketplaceId, a.ProviderId, a.Sequence)] = new SequenceHolder(a.Sequence, a.AttestationId, entry.Position);
            results[n] = new IngestResult(AttestationMapping.ToReceipt(entry), null);
        }

        if (entries.Count > 0)
        {
            state.RootHash = MerkleLog.Root(state.Frontier, state.TreeSize);
            state.UpdatedAt = now;
            db.LogNodes.AddRange(completed.Select(c => new LogNodeRecord { Id = c.Ref.Id, Level = c.Level, Index = c.Index, Hash = c.Hash }));
        }

        return new Appended(results, entries, conflicts);
    }

    /// <summary>The ledger entries of one provider with the ids of <paramref name="items"/> (ids are unique per provider).</summary>
    private async Task<List<LedgerEntry>> StoredOfProviderAsync(string marketplaceId, string providerId, IEnumerable<PendingItem> items, CancellationToken cancellationToken)
    {
        var ids = items.Select(i => i.Attestation.AttestationId).Distinct().ToList();
        return await db.Ledger.AsNoTracking()
            .Where(e => e.MarketplaceId == marketplaceId && e.ProviderId == providerId && ids.Contains(e.AttestationId))
            .ToListAsync(cancellationToken);
    }

    private LedgerEntry NewEntry(PendingItem item, Appraisal appraisal, long leafIndex, byte[] leafHash, long gap, DateTimeOffset now)
    {
        var a = item.Attestation;
        return new LedgerEntry
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
            KeyId = item.Request.KeyId,
            Signature = item.Signature,
            CanonicalBytes = item.Canonical,
            Outcome = AttestationMapping.OutcomeName(appraisal.Outcome),
            ReasonCodes = string.Join(',', appraisal.ReasonCodes),
            AppraisalPolicyVersion = _options.AppraisalPolicyVersion,
            ImpliedUtilisation = appraisal.ImpliedUtilisation,
            SequenceGap = gap,
            LeafIndex = leafIndex,
            LeafHash = leafHash,
            RecordedAt = now,
            ProviderScopedId = true,
        };
    }

    // The checks of one item, in the order the unary RPC documents. Throws RpcException to refuse.
    private void Verify(PendingItem item, LedgerEntry? existing, Registration? registration, DateTimeOffset now, Dictionary<ProviderKeyRecord, ECDsa> publicKeys)
    {
        var a = item.Attestation;
        // A retry of what is already stored gets its receipt, whatever happened since
        // (clock moved on, key revoked later): idempotent on the provider's attestation_id.
        if (existing is not null && existing.CanonicalBytes.AsSpan().SequenceEqual(item.Canonical) && existing.Signature.AsSpan().SequenceEqual(item.Signature))
        {
            item.Receipt = AttestationMapping.ToReceipt(existing);
            return;
        }

        if (registration is null)
        {
            throw AttestationErrors.Of(StatusCode.NotFound, ReasonCodes.ProviderUnknown, "attestation.provider_id",
                $"attestation.provider_id '{a.ProviderId}' is not registered in marketplace '{a.MarketplaceId}'.");
        }

        if (!registration.Keys.TryGetValue(item.Request.KeyId, out var key))
        {
            throw AttestationErrors.Of(StatusCode.FailedPrecondition, ReasonCodes.KeyUnknown, "key_id",
                $"key_id '{item.Request.KeyId}' is not registered for provider '{a.ProviderId}'; register or rotate the key first.");
        }

        VerifySignature(key, item.Canonical, item.Signature, publicKeys);
        CheckKeyActive(key, a.SignedAt.ToDateTimeOffset());

        // The same content signed again (ECDSA signatures differ each time) is a retry, not a
        // conflict: it gets the stored receipt, and the stored leaf keeps its first signature.
        if (existing is not null && existing.CanonicalBytes.AsSpan().SequenceEqual(item.Canonical))
        {
            item.Receipt = AttestationMapping.ToReceipt(existing);
            return;
        }

        // Conflicts are recorded for review only once the signature shows they come from the provider.
        if (existing is not null)
        {
            item.Conflict = DuplicateId(a, existing.Position);
            return;
        }

        // A holder with this very id is this attestation stored by a parallel call since we
        // looked: the check under the lock answers it idempotently.
        if (registration.SequenceHolders.TryGetValue(a.Sequence, out var holder) && holder.AttestationId != a.AttestationId)
        {
            item.Conflict = SequenceReused(a, holder);
            return;
        }

        CheckFreshness(a, now);
        item.Appraisal = Appraise(a, registration);
    }

    private static void VerifySignature(ProviderKeyRecord key, byte[] canonical, byte[] signature, Dictionary<ProviderKeyRecord, ECDsa> publicKeys)
    {
        if (!publicKeys.TryGetValue(key, out var publicKey))
        {
            publicKey = AttestationSignature.TryImportP256PublicKey(key.PublicKeyPem, out var error)
                ?? throw new InvalidOperationException($"Stored key '{key.KeyId}' of provider '{key.ProviderId}' is unusable: {error}");
            publicKeys[key] = publicKey;
        }

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
                $"key_id '{key.KeyId}' is valid from {AttestationCanonicalForm.FormatTime(key.ValidFrom)}; attestation.signed_at is before it (a key signs only after its registration: usage signed earlier cannot be attested with it).");
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

    private Appraisal Appraise(UsageAttestation a, Registration registration)
    {
        if (!catalogue.TryGet(a.AcceleratorModel, out var accelerator))
        {
            throw AttestationErrors.Invalid(ReasonCodes.AcceleratorUnknown, "attestation.accelerator_model",
                $"'{a.AcceleratorModel}' is not in the accelerator catalogue.");
        }

        var declared = registration.Inventory.FirstOrDefault(i => catalogue.TryGet(i.Model, out var m) && m.Model == accelerator.Model);
        if (declared is null)
        {
            throw AttestationErrors.Invalid(ReasonCodes.ModelNotInInventory, "attestation.accelerator_model",
                $"provider '{registration.Provider.ProviderId}' has declared no {accelerator.Model} in its inventory.");
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

    private static Conflict DuplicateId(UsageAttestation a, long position) => new(
        ReasonCodes.DuplicateIdDifferentBytes,
        $"ledger position {position} holds attestation_id '{a.AttestationId}' with other bytes",
        "attestation.attestation_id",
        $"attestation.attestation_id '{a.AttestationId}' is already recorded for this provider with different content.");

    private static Conflict SequenceReused(UsageAttestation a, SequenceHolder holder) => new(
        ReasonCodes.SequenceReused,
        $"sequence {a.Sequence} is held by attestation '{holder.AttestationId}' at ledger position {holder.Position}",
        "attestation.sequence",
        $"attestation.sequence {a.Sequence} was already used by another attestation of this provider.");

    /// <summary>Adds the review row of a conflict (never the ledger, log or counters) and returns its ALREADY_EXISTS.</summary>
    private RpcException AddConflict(PendingItem item, Conflict conflict)
    {
        var a = item.Attestation;
        db.ReviewItems.Add(new ReviewItemRecord
        {
            AttestationId = a.AttestationId,
            MarketplaceId = a.MarketplaceId,
            ProviderId = a.ProviderId,
            ReasonCode = conflict.Reason,
            Detail = conflict.Detail,
            KeyId = item.Request.KeyId,
            CanonicalBytes = item.Canonical,
            Signature = item.Signature,
            RecordedAt = clock.GetUtcNow(),
        });
        return AttestationErrors.Of(StatusCode.AlreadyExists, conflict.Reason, conflict.Field, conflict.Message);
    }

    private void LogConflicts(IEnumerable<(PendingItem Item, Conflict Conflict)> conflicts)
    {
        foreach (var (item, conflict) in conflicts)
        {
            logger.LogWarning("Attestation {AttestationId} of provider {ProviderId} refused for review: {Reason} ({Detail})",
                item.Attestation.AttestationId, item.Attestation.ProviderId, conflict.Reason, conflict.Detail);
        }
    }

    private IngestResult[] Count(IngestResult[] results)
    {
        foreach (var result in results)
        {
            if (result.Receipt is { } receipt)
            {
                metrics.Recorded(receipt.Outcome);
            }
            else if (result.Error is { } error)
            {
                metrics.Refused(error.StatusCode);
            }
        }

        return results;
    }

    // Runs the checks of a batch on up to VerificationParallelism threads (a batch of one inline).
    private void ForEach<TLocal>(List<PendingItem> items, Func<TLocal> init, Action<PendingItem, TLocal> body, Action<TLocal> done)
    {
        if (items.Count == 1 || _options.VerificationParallelism <= 1)
        {
            var local = init();
            try
            {
                items.ForEach(item => body(item, local));
            }
            finally
            {
                done(local);
            }

            return;
        }

        try
        {
            Parallel.ForEach(items, new ParallelOptions { MaxDegreeOfParallelism = _options.VerificationParallelism }, init,
                (item, _, local) =>
                {
                    body(item, local);
                    return local;
                },
                done);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }

    private static bool IsUniqueViolation(DbUpdateException e) =>
        e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } or SqliteException { SqliteErrorCode: 19 };

    /// <summary>What identifies an attestation: providers choose its id, so the id is unique per provider only.</summary>
    private readonly record struct AttestationKey(string MarketplaceId, string ProviderId, string AttestationId)
    {
        public static AttestationKey Of(UsageAttestation a) => new(a.MarketplaceId, a.ProviderId, a.AttestationId);

        public static AttestationKey Of(LedgerEntry e) => new(e.MarketplaceId, e.ProviderId, e.AttestationId);
    }

    private sealed record SequenceHolder(long Sequence, string AttestationId, long Position);

    private sealed record Registration(
        ProviderRecord Provider,
        IReadOnlyList<InventoryItem> Inventory,
        Dictionary<string, ProviderKeyRecord> Keys,
        Dictionary<long, SequenceHolder> SequenceHolders);

    private sealed record Appended(IngestResult[] Results, List<LedgerEntry> Entries, List<(PendingItem, Conflict)> Conflicts);
}

/// <summary>The receipt of one submission, or the error that refuses it.</summary>
public sealed record IngestResult(Receipt? Receipt, RpcException? Error);

/// <summary>A batch after verification, waiting to be stored.</summary>
public sealed class VerifiedBatch
{
    internal VerifiedBatch(List<PendingItem> items) => Items = items;

    internal List<PendingItem> Items { get; }

    public int Count => Items.Count;
}

/// <summary>One submission between the phases: exactly one of Receipt, Error, Conflict or Appraisal is set after verification.</summary>
internal sealed class PendingItem(SubmitAttestationRequest request, byte[] canonical, byte[] signature)
{
    public SubmitAttestationRequest Request { get; } = request;
    public UsageAttestation Attestation => Request.Attestation;
    public byte[] Canonical { get; } = canonical;
    public byte[] Signature { get; } = signature;
    public Receipt? Receipt { get; set; }
    public RpcException? Error { get; set; }
    public Conflict? Conflict { get; set; }
    public Appraisal? Appraisal { get; set; }
}

internal sealed record Conflict(string Reason, string Detail, string Field, string Message);

internal sealed record Appraisal(Outcome Outcome, IReadOnlyList<string> ReasonCodes, double ImpliedUtilisation, long GpuSeconds);
