using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Enforcement.V1;
using Oversight.Kyc.V1;
using Oversight.Policy.Accelerators;
using Oversight.Policy.Admission;
using Oversight.Policy.Counters;
using Oversight.Policy.Documents;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;
using Oversight.Signing;
using CoreRequirement = Oversight.Policy.RequirementKind;
using CoreVerdict = Oversight.Policy.Verdict;

namespace Oversight.Replay.Live;

/// <summary>
/// The live mode: every decision is asked of a running deployment over gRPC, in the deployment's
/// simulation clock (DESIGN.md "Units and time"). Accounts are created in KYC, leases authorized by
/// enforcement, usage attested to the attestation service by a provider host with its own P-256 key
/// (signed over the documented canonical bytes), and step-ups made through KYC: StatePurpose, and
/// identity or organisation results from the simulated provider, signed with its callback secret.
/// </summary>
/// <remarks>
/// <para>Two clocks. <see cref="LiveClock.Simulated"/> (the replay): the deployment's clock is set to
/// every event's time, so verdicts are those of the in-process replay. <see cref="LiveClock.Real"/>
/// (the marketplace simulation, against any deployment): the deployment keeps its own clock, events
/// happen now, and each attestation covers the job's interval ending now.</para>
/// <para>Time. The deployment's clock never moves backwards and starts at its own start time, so
/// the trace is shifted forward by a whole number of <see cref="ShiftUnitSeconds"/> (a multiple of
/// every bucket size, so bucket boundaries, and therefore verdicts, are unchanged) to begin after
/// the deployment's clock.</para>
/// <para>Settlement. Attested usage reaches enforcement through the bus, later. Before an account's
/// next request the backend waits until enforcement reports, in every window, the usage the same
/// attestations give in a local in-memory store: exactly that, never more (more is a double count
/// and stops the run).</para>
/// </remarks>
public sealed class LiveBackend : IReplayBackend, ICancellableBackend
{
    /// <summary>One week: a multiple of every bucket size the default windows use (1 hour, 1 day).</summary>
    public const long ShiftUnitSeconds = 7 * 86400;

    private const string ProviderId = "replay-provider";
    private const string KeyId = "replay-key-1";

    private readonly LiveTarget _target;
    private readonly EffectivePolicy _policy;
    private readonly string _marketplace;
    private readonly ECDsa _providerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly InMemoryCounterStore _expected = new();
    private readonly AdmissionEngine _expectedEngine;
    private readonly HashSet<SimulatedAccount> _unconfirmed = [];
    private readonly TimeSpan _settleTimeout;
    private readonly CancellationToken _connection; // the connection's: it cancels every call
    private CancellationToken _calls; // the connection's, linked with the run's while a run lasts (CancelCallsWith)
    private long _clock = long.MinValue;
    private long _sequence;

    private LiveBackend(LiveTarget target, EffectivePolicy policy, long shiftSeconds, TimeSpan settleTimeout, LiveClock clock, CancellationToken cancellation)
    {
        _connection = cancellation;
        _calls = cancellation;
        Clock = clock;
        _target = target;
        _policy = policy;
        _marketplace = policy.MarketplaceId ?? throw new ArgumentException("the policy must be resolved for the replay's marketplace", nameof(policy));
        ShiftSeconds = shiftSeconds;
        _settleTimeout = settleTimeout;
        _expectedEngine = new AdmissionEngine(_expected, new FlopEstimator(AcceleratorCatalogue.Default));
    }

    /// <summary>Seconds added to every trace time before it is sent to the deployment (simulated clock only).</summary>
    public long ShiftSeconds { get; }

    public LiveClock Clock { get; }

    /// <summary>The deployment's policy document as it is in force (what a replay on its clock must use).</summary>
    public static async Task<PolicyDocument> ReadPolicyAsync(LiveTarget target, string marketplace, CancellationToken cancellationToken = default)
    {
        var deployed = await target.Enforcement.GetPolicyAsync(new GetPolicyRequest(), target.As("operator", marketplace), cancellationToken: cancellationToken);
        return PolicyLoader.Load(deployed.Document);
    }

    /// <summary>
    /// Connects: reads the deployment's clock (refuses when simulation mode is off), optionally
    /// sets the replay's policy (admin), checks that the deployment's policy equals the one the
    /// replay reports on, and registers the replay's provider host. <paramref name="cancellationToken"/>
    /// also cancels every call the replay makes through the backend; so does the token given to
    /// <see cref="ReplayRun.RunAsync"/>, while that run lasts.
    /// </summary>
    public static async Task<LiveBackend> ConnectAsync(
        LiveTarget target, ReplayOptions options, long firstStart, bool setPolicy, TimeSpan? settleTimeout = null,
        LiveClock mode = LiveClock.Simulated, CancellationToken cancellationToken = default)
    {
        var clock = await target.Clock.GetClockAsync(new GetClockRequest(), target.As(mode == LiveClock.Simulated ? "admin" : "operator", mode == LiveClock.Simulated ? null : options.Marketplace), cancellationToken: cancellationToken);
        if (mode == LiveClock.Simulated && !clock.Simulated)
        {
            throw new InvalidOperationException("the deployment's clock is not simulated: start it with Oversight__Simulation__Enabled=true (refused in Production)");
        }

        if (setPolicy)
        {
            await target.Enforcement.SetPolicyAsync(new SetPolicyRequest
            {
                Document = PolicyLoader.ToYaml(options.Policy),
                Format = PolicyFormat.Yaml,
                Comment = $"oversight-replay live ({options.PolicySource})",
            }, target.As("admin", null), cancellationToken: cancellationToken);
        }

        var deployed = await target.Enforcement.GetPolicyAsync(new GetPolicyRequest(), target.As("operator", options.Marketplace), cancellationToken: cancellationToken);
        if (!PolicyLoader.Load(deployed.Document).Resolve(options.Marketplace).Document.Equals(options.Policy.Resolve(options.Marketplace).Document))
        {
            throw new InvalidOperationException(
                $"the deployment's policy (version {deployed.Version}) is not the replay's ({options.PolicySource}): pass --set-policy to set it, or --policy with the deployment's document");
        }

        var serverNow = clock.Now.Seconds;
        var shift = mode == LiveClock.Real || firstStart >= serverNow ? 0 : ((serverNow - firstStart) / ShiftUnitSeconds + 1) * ShiftUnitSeconds;
        var backend = new LiveBackend(target, options.Policy.Resolve(options.Marketplace), shift, settleTimeout ?? TimeSpan.FromSeconds(60), mode, cancellationToken);
        await backend.WaitForKycLadderAsync(deployed.Version, cancellationToken);
        await target.Attestation.RegisterProviderAsync(new RegisterProviderRequest
        {
            MarketplaceId = options.Marketplace,
            ProviderId = ProviderId,
            KeyId = KeyId,
            PublicKeyPem = backend._providerKey.ExportSubjectPublicKeyInfoPem(),
            Inventory = { AcceleratorCatalogue.Default.Accelerators.Select(a => new AcceleratorInventory { AcceleratorModel = a.Model, Count = 100_000 }) },
        }, target.As("operator", options.Marketplace), cancellationToken: cancellationToken);
        return backend;
    }

    /// <summary>Cancels the backend's calls by <paramref name="cancellationToken"/> as well as by the connection's, until the scope is disposed.</summary>
    public IDisposable CancelCallsWith(CancellationToken cancellationToken)
    {
        var linked = CancellationTokenSource.CreateLinkedTokenSource(_connection, cancellationToken);
        _calls = linked.Token;
        return new CallScope(this, linked);
    }

    public void OpenAccount(SimulatedAccount account, long now) => Wait(() => OpenAccountAsync(account, now, _calls));

    public AuthorizeAnswer Authorize(SimulatedAccount account, string leaseId, TraceJob job, long now) =>
        Wait(() => AuthorizeAsync(account, leaseId, job, now, _calls));

    public void Attest(SimulatedAccount account, string leaseId, TraceJob job, int part, long flopUnits, long gpuSeconds, long intervalStart, long now, bool final) =>
        Wait(() => AttestAsync(account, leaseId, job, part, flopUnits, gpuSeconds, intervalStart, now, final, _calls));

    public void StepUp(SimulatedAccount account, int tierLevel, CoreRequirement requirement, long now) =>
        Wait(() => StepUpAsync(account, tierLevel, requirement, now, _calls));

    // The replay is synchronous (IReplayBackend says why): each call blocks until the deployment
    // answers. The call runs on a pool thread, so that its continuations never wait for the
    // blocked thread's synchronization context (a UI or test framework's would deadlock).
    private void Wait(Func<Task> call) => Wait(async () =>
    {
        await call();
        return true;
    });

    // A call cancelled by the run's or the connection's token is the run being stopped (grpc-dotnet
    // reports it as an RpcException with status Cancelled): it surfaces as OperationCanceledException,
    // as in the in-process replay. Any other status, DEADLINE_EXCEEDED included, is the deployment's answer.
    private T Wait<T>(Func<Task<T>> call)
    {
        var token = _calls;
        try
        {
            return Task.Run(call).GetAwaiter().GetResult();
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && token.IsCancellationRequested)
        {
            throw new OperationCanceledException("the run was stopped while a call waited for the deployment", e, token);
        }
    }

    private async Task OpenAccountAsync(SimulatedAccount account, long now, CancellationToken cancellationToken)
    {
        if (account.ClusterRoot != account)
        {
            throw new NotSupportedException("the live mode does not replay linked sybil pseudonyms (--sybil-linked); replay them in process");
        }

        await SetClockAsync(now, cancellationToken);
        var id = $"replay-{account.Index}";
        await _target.Kyc.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = _marketplace, AccountId = id }, Operator, cancellationToken: cancellationToken);
        var reference = new AccountRef(_marketplace, id, id);
        _expected.InitializeTag(reference.Tag, "live");
        account.BackendState = reference;
    }

    private async Task<AuthorizeAnswer> AuthorizeAsync(SimulatedAccount account, string leaseId, TraceJob job, long now, CancellationToken cancellationToken)
    {
        await ConfirmCountedAsync(account, now, cancellationToken);
        await SetClockAsync(now, cancellationToken);
        var request = new AuthorizeRequest
        {
            MarketplaceId = _marketplace,
            AccountId = Reference(account).AccountId,
            LeaseId = Remote(leaseId),
            AcceleratorModel = job.AcceleratorModel,
            AcceleratorCount = job.AcceleratorCount,
            DurationSeconds = job.DurationSeconds,
            Precision = (PrecisionClass)ReplayLease.Precision,
        };
        if (job.FlopUnits is { } flop)
        {
            request.FlopUnits = flop;
        }

        var response = await _target.Enforcement.AuthorizeAsync(request, Operator, cancellationToken: cancellationToken);
        int? required = response.RequiredTier is { Id.Length: > 0 } tier && _policy.TryGetTierLevel(tier.Id, out var level) ? level : null;
        return new AuthorizeAnswer((CoreVerdict)response.Verdict, required, response.RequestedFlopUnits, response.RequestedGpuSeconds);
    }

    private async Task AttestAsync(SimulatedAccount account, string leaseId, TraceJob job, int part, long flopUnits, long gpuSeconds, long intervalStart, long now, bool final, CancellationToken cancellationToken)
    {
        var attestationId = ReplayLease.AttestationId(leaseId, part);
        await SetClockAsync(now, cancellationToken);
        var reference = Reference(account);
        var (startAt, endAt) = Clock == LiveClock.Simulated
            ? (intervalStart + ShiftSeconds, now + ShiftSeconds)
            // On the deployment's own clock the interval ends now (a second ago: the signature may not be dated before its end).
            : (RealNow() - 1 - (now - intervalStart), RealNow() - 1);
        var end = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeSeconds(endAt));
        var attestation = new UsageAttestation
        {
            AttestationId = Remote(attestationId),
            MarketplaceId = _marketplace,
            ProviderId = ProviderId,
            LeaseId = Remote(leaseId),
            AccountId = reference.AccountId,
            AcceleratorModel = job.AcceleratorModel,
            AcceleratorCount = job.AcceleratorCount,
            IntervalStart = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeSeconds(startAt)),
            IntervalEnd = end,
            Final = final,
            FlopUnits = flopUnits,
            Precision = (PrecisionClass)ReplayLease.Precision,
            // A commitment to the workload, never its content: here a hash of the lease id.
            WorkloadCommitment = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("oversight-replay:" + leaseId))),
            WorkloadClass = WorkloadClass.Other,
            SignedAt = end,
            Sequence = ++_sequence,
        };
        var response = await _target.Attestation.SubmitAttestationAsync(new SubmitAttestationRequest
        {
            Attestation = attestation,
            KeyId = KeyId,
            Signature = ByteString.CopyFrom(AttestationSignature.Sign(attestation, _providerKey)),
        }, Provider, cancellationToken: cancellationToken);
        if (response.Receipt.Outcome is not (Outcome.Accepted or Outcome.Flagged))
        {
            throw new InvalidOperationException($"attestation {attestationId} was {response.Receipt.Outcome}: {string.Join("; ", response.Receipt.ReasonCodes)}");
        }

        await _expectedEngine.SettleAsync(_policy, reference, new UsageRecord(attestationId, leaseId, flopUnits, gpuSeconds, endAt, final), endAt, null, cancellationToken);
        _unconfirmed.Add(account);
    }

    private async Task StepUpAsync(SimulatedAccount account, int tierLevel, CoreRequirement requirement, long now, CancellationToken cancellationToken)
    {
        await SetClockAsync(now, cancellationToken);
        var id = Reference(account).AccountId;
        switch (requirement)
        {
            case CoreRequirement.StatedPurpose:
                await _target.Kyc.StatePurposeAsync(new StatePurposeRequest
                {
                    MarketplaceId = _marketplace,
                    AccountId = id,
                    Category = PurposeCategory.Research,
                    Text = "Replaying a public GPU usage trace.",
                }, Operator, cancellationToken: cancellationToken);
                break;
            case CoreRequirement.Identity:
                var identity = await _target.Kyc.StartIdentityVerificationAsync(new StartIdentityVerificationRequest { MarketplaceId = _marketplace, AccountId = id }, Operator, cancellationToken: cancellationToken);
                await SubmitApprovalAsync(identity.Provider, identity.SessionRef, now, new Dictionary<string, object> { ["document_number"] = $"REPLAY{account.Index:D8}" }, cancellationToken);
                break;
            case CoreRequirement.Organisation:
                var organisation = await _target.Kyc.StartOrganisationVerificationAsync(new StartOrganisationVerificationRequest { MarketplaceId = _marketplace, AccountId = id }, Operator, cancellationToken: cancellationToken);
                await SubmitApprovalAsync(organisation.Provider, organisation.SessionRef, now,
                    new Dictionary<string, object> { ["kind"] = "organisation", ["registry_id"] = $"XX-REPLAY:{account.Index:D8}", ["beneficial_owner_count"] = 1 }, cancellationToken);
                break;
        }

        var confirmed = await _target.Kyc.GetAccountAsync(new GetAccountRequest { MarketplaceId = _marketplace, AccountId = id }, Operator, cancellationToken: cancellationToken);
        if (!_policy.TryGetTierLevel(confirmed.Account.Tier.Id, out var reached) || reached < tierLevel)
        {
            throw new InvalidOperationException($"account {id} should hold tier {_policy.Tier(tierLevel).Id} after the step-up, but KYC says {confirmed.Account.Tier.Id}");
        }
    }

    /// <summary>Waits until enforcement has counted every attestation sent so far (the end of a run).</summary>
    public async Task ConfirmAllCountedAsync(long now, CancellationToken cancellationToken)
    {
        foreach (var account in _unconfirmed.ToArray())
        {
            await ConfirmCountedAsync(account, now, cancellationToken);
        }
    }

    private Metadata Operator => _target.As("operator", _marketplace);

    /// <summary>Lease and attestation ids are unique in the whole deployment: the marketplace prefixes the replay's own.</summary>
    private string Remote(string id) => $"{_marketplace}.{id}";

    private Metadata Provider => _target.As("provider", _marketplace, ProviderId);

    private async Task SubmitApprovalAsync(string provider, string sessionRef, long now, Dictionary<string, object> fields, CancellationToken cancellationToken)
    {
        if (_target.CallbackSecretId is null || _target.CallbackSecret is null)
        {
            throw new InvalidOperationException("a verification step-up needs the simulated identity provider's callback secret (--callback-secret-id and --callback-secret, or --embedded-data)");
        }

        var at = Clock == LiveClock.Simulated ? now + ShiftSeconds : RealNow();
        fields["event_id"] = $"replay-{sessionRef}";
        fields["session_ref"] = sessionRef;
        fields["status"] = "approved";
        fields["assurance_level"] = "substantial";
        fields["occurred_at"] = DateTimeOffset.FromUnixTimeSeconds(at).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var payload = JsonSerializer.SerializeToUtf8Bytes(fields);
        // The simulated provider's callback signature: hex HMAC-SHA256 over "{timestamp}." + payload (docs/identity-verification.md).
        var prefix = Encoding.ASCII.GetBytes(at.ToString(CultureInfo.InvariantCulture) + ".");
        var signature = HMACSHA256.HashData(Encoding.UTF8.GetBytes(_target.CallbackSecret), (byte[])[.. prefix, .. payload]);
        await _target.Kyc.SubmitVerificationResultAsync(new SubmitVerificationResultRequest
        {
            Provider = provider,
            Payload = ByteString.CopyFrom(payload),
            TimestampUnixSeconds = at,
            Signature = Convert.ToHexStringLower(signature),
            SecretId = _target.CallbackSecretId,
        }, cancellationToken: cancellationToken);
    }

    private static long RealNow() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private async Task SetClockAsync(long now, CancellationToken cancellationToken)
    {
        var at = now + ShiftSeconds;
        if (Clock == LiveClock.Real)
        {
            _clock = RealNow();
            return;
        }

        if (at <= _clock)
        {
            return;
        }

        foreach (var clock in _target.Clocks)
        {
            await clock.SetClockAsync(new SetClockRequest { Now = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeSeconds(at)) }, _target.As("admin", null), cancellationToken: cancellationToken);
        }

        _clock = at;
    }

    /// <summary>Waits until enforcement's figures for the account equal the expected ones (never above them).</summary>
    private async Task ConfirmCountedAsync(SimulatedAccount account, long now, CancellationToken cancellationToken)
    {
        if (!_unconfirmed.Contains(account))
        {
            return;
        }

        var reference = Reference(account);
        var deadline = DateTime.UtcNow + _settleTimeout;
        while (true)
        {
            await SetClockAsync(now, cancellationToken);
            var expected = await _expectedEngine.ReadAsync(_policy, reference, new Policy.Decisions.AccountStanding(account.TierLevel), _clock, cancellationToken);
            var actual = await _target.Enforcement.GetUsageAsync(new GetUsageRequest { MarketplaceId = _marketplace, AccountId = reference.AccountId }, Operator, cancellationToken: cancellationToken);
            var behind = false;
            foreach (var window in actual.Windows)
            {
                var metric = window.Metric == Common.V1.Metric.GpuSeconds ? Policy.Metric.GpuSeconds : Policy.Metric.FlopUnits;
                var want = expected.Snapshot.Find(reference.AccountId, window.Window, metric)?.Usage ?? 0;
                if (window.Usage > want)
                {
                    throw new InvalidOperationException($"enforcement counts {window.Usage} in {reference.AccountId}'s {window.Window} {metric} window, more than the {want} attested: usage counted twice");
                }

                behind |= window.Usage < want;
            }

            if (!behind)
            {
                _unconfirmed.Remove(account);
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"enforcement did not count {reference.AccountId}'s attested usage within {_settleTimeout.TotalSeconds:0} s");
            }

            await Task.Delay(10, cancellationToken);
        }
    }

    /// <summary>
    /// KYC learns a new policy from the bus: wait until it places new accounts on the ladder of
    /// <paramref name="policyVersion"/> (or later). An account keeps the ladder it was created
    /// under, so each look is a new probe account.
    /// </summary>
    private async Task WaitForKycLadderAsync(long policyVersion, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + _settleTimeout;
        while (true)
        {
            var probe = $"replay-probe-{Guid.NewGuid():N}"[..28];
            var created = await _target.Kyc.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = _marketplace, AccountId = probe }, Operator, cancellationToken: cancellationToken);
            if (created.Account.PolicyVersion >= policyVersion)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"KYC did not take up policy version {policyVersion} within {_settleTimeout.TotalSeconds:0} s (it still places accounts on version {created.Account.PolicyVersion}'s ladder)");
            }

            await Task.Delay(250, cancellationToken);
        }
    }

    private static AccountRef Reference(SimulatedAccount account) =>
        account.BackendState as AccountRef ?? throw new InvalidOperationException($"account {account.Pseudonym} was not opened");

    /// <summary>A run's hold on the backend's calls: at its end the calls answer to the connection's token alone again.</summary>
    private sealed class CallScope(LiveBackend backend, CancellationTokenSource linked) : IDisposable
    {
        public void Dispose()
        {
            backend._calls = backend._connection;
            linked.Dispose();
        }
    }
}

/// <summary>Whose clock a live run uses.</summary>
public enum LiveClock
{
    /// <summary>The deployment's simulation clock, set to each event's (shifted) trace time: the live replay.</summary>
    Simulated,

    /// <summary>The deployment's own clock: events happen now (the marketplace simulation, against any deployment).</summary>
    Real,
}
