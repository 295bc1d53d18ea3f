using System.Diagnostics;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Oversight.Common.V1;
using Oversight.Enforcement.Accounts;
using Oversight.Enforcement.Counters;
using Oversight.Enforcement.Data;
using Oversight.Enforcement.Policies;
using Oversight.Enforcement.V1;
using Oversight.Hosting;
using Oversight.Hosting.Auth;
using Oversight.Policy;
using Oversight.Policy.Accelerators;
using Oversight.Policy.Admission;
using Oversight.Policy.Counters;
using Oversight.Policy.Decisions;
using Oversight.Policy.Documents;
using CoreMetric = Oversight.Policy.Metric;
using CorePrecision = Oversight.Policy.PrecisionClass;
using CoreVerdict = Oversight.Policy.Verdict;

namespace Oversight.Enforcement;

/// <summary>oversight.enforcement.v1.ThresholdEnforcement.</summary>
[Authorize]
public sealed class ThresholdEnforcementService(
    AdmissionEngine engine,
    PolicyRegistry policies,
    AccountDirectory accounts,
    CounterRebuilder rebuilder,
    ThresholdNotifier notifier,
    AcceleratorCatalogue catalogue,
    EnforcementDbContext db,
    TimeProvider clock,
    EnforcementMetrics metrics,
    ILogger<ThresholdEnforcementService> logger) : ThresholdEnforcement.ThresholdEnforcementBase
{
    private const int MaxAcceleratorCount = 100_000;
    private const long MaxDurationSeconds = 366L * 24 * 3600;
    // 10^15 units = 10^27 FLOP: ten times the largest threshold in law; anything above is a mistake.
    private const long MaxFlopUnits = 1_000_000_000_000_000;

    public override async Task<AuthorizeResponse> Authorize(AuthorizeRequest request, ServerCallContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var caller = Caller.From(context).RequireRole(Roles.Operator);
        // The list of known models is only built for the error message.
        var knownModel = string.IsNullOrWhiteSpace(request.AcceleratorModel) || catalogue.TryGet(request.AcceleratorModel, out _);
        new Validation()
            .CheckId(request.MarketplaceId, "marketplace_id")
            .CheckId(request.AccountId, "account_id")
            .CheckId(request.LeaseId, "lease_id")
            .Check(!string.IsNullOrWhiteSpace(request.AcceleratorModel), "accelerator_model", "accelerator_model is required.")
            .Check(knownModel, "accelerator_model",
                knownModel ? "" : $"Unknown accelerator model '{request.AcceleratorModel}'; known: {string.Join(", ", catalogue.Accelerators.Select(a => a.Model))}.")
            .Check(request.AcceleratorCount is >= 1 and <= MaxAcceleratorCount, "accelerator_count", $"accelerator_count must be between 1 and {MaxAcceleratorCount}.")
            .Check(request.DurationSeconds is >= 1 and <= MaxDurationSeconds, "duration_seconds", $"duration_seconds must be between 1 and {MaxDurationSeconds} (366 days).")
            .Check(!request.HasFlopUnits || request.FlopUnits is >= 1 and <= MaxFlopUnits, "flop_units", $"flop_units, when given, must be between 1 and {MaxFlopUnits}.")
            .Check(System.Enum.IsDefined(request.Precision), "precision", "precision is not a known precision class.")
            .ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var (policy, effective) = await policies.ResolveAsync(request.MarketplaceId, context.CancellationToken);
        var lease = new LeaseRequest(
            request.LeaseId,
            request.AcceleratorModel,
            request.AcceleratorCount,
            request.DurationSeconds,
            request.Precision == Common.V1.PrecisionClass.Unspecified ? CorePrecision.Bf16 : (CorePrecision)request.Precision,
            request.HasFlopUnits ? request.FlopUnits : null,
            request.CheckOnly);
        RequestAmounts requested;
        try
        {
            requested = engine.Amounts(effective, lease);
            if (requested.FlopUnits > MaxFlopUnits)
            {
                throw Validation.Invalid("duration_seconds", $"The request amounts to {requested.FlopUnits} FLOP units, above the {MaxFlopUnits} any request may ask for.");
            }
        }
        catch (OverflowException)
        {
            throw Validation.Invalid("duration_seconds", "accelerator_count x duration_seconds is too large to count.");
        }

        var account = await KnownAccountAsync(request.MarketplaceId, request.AccountId, context.CancellationToken);
        AdmissionOutcome outcome;
        try
        {
            (outcome, account) = await AdmitAsync(effective, account, lease, context.CancellationToken);
            if (outcome.Decision!.Verdict is CoreVerdict.RequireStatedPurpose or CoreVerdict.RequireIdentity or CoreVerdict.RequireOrganisation
                or CoreVerdict.Deny)
            {
                // The tier copy is a cache: a step-up (or a suspension) is confirmed with KYC before
                // it is answered, so an Authorize right after StatePurpose is never refused on stale data.
                var confirmed = await ConfirmOrKeepAsync(account, context.CancellationToken);
                if (confirmed is not null && confirmed != account)
                {
                    (outcome, account) = await AdmitAsync(effective, confirmed, lease, context.CancellationToken);
                }
            }
        }
        catch (Exception e) when (CountersUnavailableException.Matches(e))
        {
            if (effective.Document.FailMode == Oversight.Policy.FailMode.Open)
            {
                logger.LogWarning(e, "Counters unavailable; policy {Version} fails open: lease {Lease} allowed without a reservation", policy.Version, request.LeaseId);
                metrics.Verdicts.Add(1, new KeyValuePair<string, object?>("verdict", "ALLOW"), new KeyValuePair<string, object?>("fail_open", true));
                metrics.AuthorizeDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                return new AuthorizeResponse
                {
                    Verdict = Common.V1.Verdict.Allow,
                    CurrentTier = ToTier(effective, account.TierLevel),
                    PolicyVersion = policy.Version,
                    RequestedFlopUnits = requested.FlopUnits,
                    RequestedGpuSeconds = requested.GpuSeconds,
                    Message = "Counters are unavailable and the policy fails open: allowed without a reservation; usage is still counted when attested.",
                };
            }

            logger.LogError(e, "Counters unavailable: failing closed for lease {Lease}", request.LeaseId);
            throw new RpcException(new Status(StatusCode.Unavailable, CountersUnavailableException.MessageFor(e)));
        }

        var decision = outcome.Decision!;
        if (!request.CheckOnly)
        {
            // A preview changes nothing: no ThresholdCrossed, so KYC sets no next step.
            await notifier.NotifyIfFirstAsync(account, decision, policy.Version, context.CancellationToken);
        }

        metrics.Verdicts.Add(1, new KeyValuePair<string, object?>("verdict", ProtoNames.Verdict(decision.Verdict)));
        metrics.HoldsExpired.Add(outcome.ExpiredHoldsPruned);
        metrics.AuthorizeDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return ToResponse(outcome, effective, policy.Version);
    }

    public override async Task<ReleaseReservationResponse> ReleaseReservation(ReleaseReservationRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator);
        new Validation()
            .CheckId(request.MarketplaceId, "marketplace_id")
            .CheckId(request.AccountId, "account_id")
            .CheckId(request.LeaseId, "lease_id")
            .ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);
        var account = await KnownAccountAsync(request.MarketplaceId, request.AccountId, context.CancellationToken);
        var now = clock.GetUtcNow().ToUnixTimeSeconds();
        var result = await engine.ReleaseAsync(Reference(account), request.LeaseId, now, context.CancellationToken);
        if (result.Status == ReleaseStatus.EpochMissing)
        {
            // A rebuild keeps the tag's holds: release once it is done.
            account = await CurrentAsync(account, context.CancellationToken);
            await rebuilder.RebuildIfMissingAsync(account.MarketplaceId, account.ClusterRoot, context.CancellationToken);
            result = await engine.ReleaseAsync(Reference(account), request.LeaseId, clock.GetUtcNow().ToUnixTimeSeconds(), context.CancellationToken);
            if (result.Status == ReleaseStatus.EpochMissing)
            {
                throw BeingRebuilt();
            }
        }

        return new ReleaseReservationResponse { Released = result.Status == ReleaseStatus.Released };
    }

    public override async Task<GetUsageResponse> GetUsage(GetUsageRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator, Roles.Auditor, Roles.Compliance, Roles.Service);
        new Validation().CheckId(request.MarketplaceId, "marketplace_id").CheckId(request.AccountId, "account_id").ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);
        var account = await KnownAccountAsync(request.MarketplaceId, request.AccountId, context.CancellationToken);
        var (policy, effective) = await policies.ResolveAsync(request.MarketplaceId, context.CancellationToken);
        var standing = Standing(account);
        var now = clock.GetUtcNow().ToUnixTimeSeconds();
        var read = await engine.ReadAsync(effective, Reference(account), standing, now, context.CancellationToken);
        if (read.Status == ReadStatus.EpochMissing)
        {
            account = await CurrentAsync(account, context.CancellationToken);
            standing = Standing(account);
            await rebuilder.RebuildIfMissingAsync(account.MarketplaceId, account.ClusterRoot, context.CancellationToken);
            read = await engine.ReadAsync(effective, Reference(account), standing, now, context.CancellationToken);
        }

        var response = new GetUsageResponse { Tier = ToTier(effective, account.TierLevel), PolicyVersion = policy.Version, ClusterRoot = account.ClusterRoot };
        foreach (var window in read.Decision?.CurrentTierWindows ?? [])
        {
            var reading = read.Snapshot.Find(window.SharedByCluster ? CounterSubject.Cluster : account.AccountId, window.WindowId, window.Metric);
            response.Windows.Add(ToWindowUsage(window, reading?.ResetsAt));
        }

        return response;
    }

    public override async Task<SetPolicyResponse> SetPolicy(SetPolicyRequest request, ServerCallContext context)
    {
        // The document holds every marketplace's override: only a deployment-wide admin sets it.
        var caller = Caller.From(context).RequireRole(Roles.Admin).RequireDeploymentWide();
        new Validation()
            .Check(!string.IsNullOrWhiteSpace(request.Document), "document", "document is required.")
            .Check(request.Document.Length <= 1_000_000, "document", "document must be at most 1,000,000 characters.")
            .Check(request.Format is PolicyFormat.Yaml or PolicyFormat.Json, "format", "format must be YAML or JSON.")
            .Check(request.Comment.Length <= 500, "comment", "comment must be at most 500 characters.")
            .ThrowIfInvalid();
        if (request.Format == PolicyFormat.Json)
        {
            // The loader reads YAML, of which JSON is a subset: a document labelled JSON is held to JSON.
            try
            {
                using var json = System.Text.Json.JsonDocument.Parse(request.Document);
            }
            catch (System.Text.Json.JsonException e)
            {
                throw Validation.Invalid("document", $"format is JSON but the document is not JSON ({e.Message}); send it as YAML or fix it.");
            }
        }

        try
        {
            var version = await policies.SetAsync(request.Document, request.Format == PolicyFormat.Json ? "JSON" : "YAML", request.Comment, caller.Actor, context.CancellationToken);
            return new SetPolicyResponse { Version = version };
        }
        catch (PolicyValidationException e)
        {
            // An empty field is the document as a whole (it does not parse).
            throw Validation.Invalid(string.IsNullOrEmpty(e.Field) ? "document" : $"document.{e.Field}", e.Message);
        }
    }

    public override async Task<GetPolicyResponse> GetPolicy(GetPolicyRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context);
        new Validation().Check(request.Version >= 0, "version", "version must be 0 (current) or a stored version.").ThrowIfInvalid();
        var version = request.Version == 0 ? (await policies.CurrentAsync(context.CancellationToken)).Version : request.Version;
        var record = await db.PolicyVersions.AsNoTracking().FirstOrDefaultAsync(p => p.Version == version, context.CancellationToken)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"Policy version {version} does not exist."));
        var response = new GetPolicyResponse
        {
            Version = record.Version,
            Document = record.Document,
            Format = record.Format == "JSON" ? PolicyFormat.Json : PolicyFormat.Yaml,
            CreatedAt = Timestamp.FromDateTimeOffset(record.CreatedAt),
            Comment = record.Comment,
        };
        if (!caller.IsDeploymentWide && VisibleTo(LoadStored(record), caller.Marketplace) is { } narrowed)
        {
            // A caller acts only inside its marketplace (DESIGN.md "Security"): other marketplaces'
            // overrides are theirs. The narrowed copy is written anew, so the stored comments go.
            response.Document = PolicyLoader.ToYaml(narrowed);
            response.Format = PolicyFormat.Yaml;
        }

        return response;
    }

    private static PolicyDocument LoadStored(PolicyVersionRecord record)
    {
        try
        {
            return PolicyLoader.Load(record.Document);
        }
        catch (PolicyValidationException e)
        {
            // Stored when it passed; a later, stricter validator refuses it. Showing it whole would show other marketplaces' overrides.
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"Policy version {record.Version} no longer passes validation ({e.Message}), so it cannot be shown narrowed to one marketplace; a deployment-wide admin can read it whole."));
        }
    }

    /// <summary>The document without other marketplaces' overrides, or null when it names none.</summary>
    private static PolicyDocument? VisibleTo(PolicyDocument document, string? marketplaceId) =>
        document.Overrides.Keys.All(key => key == marketplaceId)
            ? null
            : document with { Overrides = new ValueMap<PolicyOverride>(document.Overrides.Where(o => o.Key == marketplaceId)) };

    public override async Task<ListPolicyVersionsResponse> ListPolicyVersions(ListPolicyVersionsRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context);
        await policies.CurrentAsync(context.CancellationToken);
        var versions = await db.PolicyVersions.AsNoTracking().OrderBy(p => p.Version)
            .Select(p => new { p.Version, p.CreatedAt, p.Comment, p.Actor })
            .ToListAsync(context.CancellationToken);
        var response = new ListPolicyVersionsResponse();
        response.Versions.AddRange(versions.Select(v => new PolicyVersionInfo
        {
            Version = v.Version,
            CreatedAt = Timestamp.FromDateTimeOffset(v.CreatedAt),
            Comment = v.Comment,
            // Who set a version names someone of the deployment's own team: a marketplace's callers
            // have no use for it (DESIGN.md "Security": as little personal data as possible).
            Actor = caller.IsDeploymentWide ? v.Actor : "",
        }));
        return response;
    }

    public override async Task<RebuildCountersResponse> RebuildCounters(RebuildCountersRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Admin);
        new Validation()
            .CheckId(request.MarketplaceId, "marketplace_id", required: false)
            .CheckId(request.AccountId, "account_id", required: false)
            .Check(string.IsNullOrEmpty(request.AccountId) || !string.IsNullOrEmpty(request.MarketplaceId), "marketplace_id",
                "marketplace_id is required when account_id is given.")
            .ThrowIfInvalid();
        // One marketplace: its own admin or a deployment-wide one; every marketplace: deployment-wide only.
        _ = string.IsNullOrEmpty(request.MarketplaceId) ? caller.RequireDeploymentWide() : caller.RequireMarketplace(request.MarketplaceId);
        if (string.IsNullOrEmpty(request.AccountId))
        {
            // One marketplace, or (empty) every marketplace: every tag known here or in the ledger.
            var (tags, total) = await rebuilder.RebuildAllAsync(
                string.IsNullOrEmpty(request.MarketplaceId) ? null : request.MarketplaceId, context.CancellationToken);
            return new RebuildCountersResponse { TagsRebuilt = tags, AttestationsApplied = total };
        }

        var account = await KnownAccountAsync(request.MarketplaceId, request.AccountId, context.CancellationToken);
        var applied = await rebuilder.RebuildAsync(account.MarketplaceId, account.ClusterRoot, onlyIfMissing: false, context.CancellationToken);
        return new RebuildCountersResponse { TagsRebuilt = 1, AttestationsApplied = applied };
    }

    private static RpcException BeingRebuilt() =>
        new(new Status(StatusCode.Unavailable, "The account's counters are being rebuilt; retry shortly."));

    /// <summary>Decides on the account's tag; returns the account as decided on (read again when its tag had no epoch).</summary>
    private async Task<(AdmissionOutcome Outcome, AccountState Account)> AdmitAsync(EffectivePolicy policy, AccountState account, LeaseRequest lease, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().ToUnixTimeSeconds();
        var outcome = await engine.AuthorizeAsync(policy, Reference(account), Standing(account), lease, now, cancellationToken);
        if (outcome.Status == AdmissionStatus.EpochMissing)
        {
            // Fail closed until the tag's counters are rebuilt from the ledger, then decide.
            account = await CurrentAsync(account, cancellationToken);
            await rebuilder.RebuildIfMissingAsync(account.MarketplaceId, account.ClusterRoot, cancellationToken);
            outcome = await engine.AuthorizeAsync(policy, Reference(account), Standing(account), lease, clock.GetUtcNow().ToUnixTimeSeconds(), cancellationToken);
            if (outcome.Status == AdmissionStatus.EpochMissing)
            {
                throw BeingRebuilt();
            }
        }

        if (outcome.Status == AdmissionStatus.OtherTerms)
        {
            throw new RpcException(new Status(StatusCode.AlreadyExists, outcome.Hold?.AccountId != account.AccountId
                ? $"lease_id '{lease.LeaseId}' already holds a reservation of another account linked with this one; give this lease its own lease_id."
                : $"lease_id '{lease.LeaseId}' already holds a reservation made for other terms ({outcome.Hold?.Terms}, as model|count|duration_seconds|precision|flop_units); "
                    + "a repeat must ask the same, and a changed lease needs a new lease_id."));
        }

        return (outcome, account);
    }

    /// <summary>
    /// The account as the directory has it now, read again when its tag turned out to have no
    /// epoch: a link may have moved it to another root since it was read, and the tag it left was
    /// cleared for good. Rebuilding that tag would judge (and hold) the account without its
    /// cluster, on counters nothing else reads.
    /// </summary>
    private async Task<AccountState> CurrentAsync(AccountState account, CancellationToken cancellationToken) =>
        await accounts.FindAsync(account.MarketplaceId, account.AccountId, cancellationToken) ?? account;

    /// <summary>The account as enforcement knows it, or as KYC confirms it; NOT_FOUND when neither knows it.</summary>
    private async Task<AccountState> KnownAccountAsync(string marketplaceId, string accountId, CancellationToken cancellationToken)
    {
        var account = await accounts.FindAsync(marketplaceId, accountId, cancellationToken);
        if (account is not null)
        {
            return account;
        }

        try
        {
            return await accounts.ConfirmAsync(marketplaceId, accountId, cancellationToken)
                ?? throw new RpcException(new Status(StatusCode.NotFound, $"account_id '{accountId}' does not exist in marketplace_id '{marketplaceId}'."));
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.NotFound)
        {
            logger.LogWarning(e, "KYC could not confirm account {Account}", accountId);
            throw new RpcException(new Status(StatusCode.Unavailable, "The account is not known here yet and KYC could not confirm it; retry shortly."));
        }
    }

    /// <summary>KYC's current view, or the cached one when KYC cannot answer (the cached verdict is the stricter one).</summary>
    private async Task<AccountState?> ConfirmOrKeepAsync(AccountState account, CancellationToken cancellationToken)
    {
        try
        {
            return await accounts.ConfirmAsync(account.MarketplaceId, account.AccountId, cancellationToken);
        }
        catch (RpcException e)
        {
            logger.LogWarning(e, "KYC could not confirm the tier of {Account}; answering from the cached tier", account.AccountId);
            return null;
        }
    }

    private static AccountStanding Standing(AccountState account) =>
        new(account.TierLevel, account.Suspended, account.ClusterRoot != account.AccountId, account.Erased);

    private static AccountRef Reference(AccountState account) => new(account.MarketplaceId, account.AccountId, account.ClusterRoot);

    private static AuthorizeResponse ToResponse(AdmissionOutcome outcome, EffectivePolicy policy, long policyVersion)
    {
        var decision = outcome.Decision!;
        var response = new AuthorizeResponse
        {
            Verdict = (Common.V1.Verdict)decision.Verdict,
            CurrentTier = ToTier(policy, decision.CurrentTierLevel),
            PolicyVersion = policyVersion,
            RequestedFlopUnits = outcome.Requested.FlopUnits,
            RequestedGpuSeconds = outcome.Requested.GpuSeconds,
            Message = decision.Message,
            Replayed = outcome.Status == AdmissionStatus.Replayed,
        };
        if (decision.RequiredTierLevel is { } required)
        {
            response.RequiredTier = ToTier(policy, required);
        }

        // Windows as they stand after this call: with this request's hold when it was reserved now
        // (a replayed lease's hold is already in them), as GetUsage would show them next.
        var reservedNow = outcome.Status == AdmissionStatus.Reserved;
        if (decision.DecidingWindow is { } deciding)
        {
            response.DecidingWindow = ToWindowUsage(deciding, null, reservedNow);
        }

        response.Windows.AddRange(decision.CurrentTierWindows.Select(w => ToWindowUsage(w, null, reservedNow)));
        if (outcome.Hold is { } hold)
        {
            response.Reservation = new Reservation
            {
                ReservationId = hold.LeaseId,
                FlopUnits = hold.FlopUnits,
                GpuSeconds = hold.GpuSeconds,
                ExpiresAt = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeSeconds(hold.ExpiresAt)),
            };
        }

        return response;
    }

    private static Tier ToTier(EffectivePolicy policy, int level)
    {
        var tier = policy.Tier(level);
        return new Tier { Level = level, Id = tier.Id, DisplayName = tier.DisplayName, Requirement = (Common.V1.RequirementKind)tier.Requirement };
    }

    /// <param name="withRequest">Count the assessed request as held (it was reserved by this call).</param>
    private static WindowUsage ToWindowUsage(WindowAssessment window, long? resetsAt, bool withRequest = false)
    {
        var after = withRequest ? window with { Held = window.Held + window.Request } : window;
        var usage = new WindowUsage
        {
            Window = window.WindowId,
            Metric = window.Metric == CoreMetric.FlopUnits ? Common.V1.Metric.FlopUnits : Common.V1.Metric.GpuSeconds,
            Usage = window.Usage,
            Held = after.Held,
            Limit = window.Limit,
            Remaining = after.Remaining,
            SharedByCluster = window.SharedByCluster,
            TierId = window.TierId,
        };
        if (resetsAt is { } at)
        {
            usage.ResetsAt = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeSeconds(at));
        }

        return usage;
    }
}
