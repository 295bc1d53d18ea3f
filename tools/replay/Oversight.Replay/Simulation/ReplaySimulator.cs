using System.Globalization;
using Oversight.Policy;
using Oversight.Policy.Accelerators;
using Oversight.Policy.Admission;
using Oversight.Policy.Decisions;
using Oversight.Policy.Documents;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Simulation;

/// <summary>A verdict as it happened in the replay (for verdict logs and the live/in-process comparison).</summary>
public readonly record struct VerdictEvent(long Time, string Pseudonym, string LeaseId, Verdict Verdict, int TierLevel, int? RequiredTierLevel, long FlopUnits);

/// <summary>
/// Plays a trace's users in virtual time against a backend. Each job asks for admission at its
/// start (later if its user is busy stepping up); an admitted job is attested every
/// <see cref="ReplayOptions.AttestIntervalSeconds"/> and finally at its end. After a REQUIRE_*
/// verdict the user abandons with the configured probability (seeded) or completes the step-up
/// after the configured delay, and the job (and any other job of that pseudonym meanwhile) asks
/// again then. Events at the same second run in a fixed order: completed step-ups, then
/// attestations, then admissions, each in the order they were scheduled, so a run is deterministic.
/// Memory grows with accounts and with jobs running at once, not with the length of the trace.
/// </summary>
public sealed class ReplaySimulator
{
    private enum EventKind
    {
        StepUpDone = 0,
        Attest = 1,
        Authorize = 2,
    }

    /// <summary>A job as the simulator tracks it: its account, its amounts, and how far its attestations have got.</summary>
    private sealed class RunningJob
    {
        public TraceJob Job { get; private set; } = null!;

        // Copied from the job, so that an attestation reads only this object (a replay attests
        // long after the trace row was read, and every object fetched then is a cache miss).
        public long DurationSeconds { get; private set; }

        public int AcceleratorCount { get; private set; }

        public SimulatedAccount Account { get; private set; } = null!;

        public long Index { get; private set; }

        public RequestAmounts Amounts { get; private set; }

        public int Attempt { get; set; }

        public string LeaseId { get; set; } = "";

        public long RunStart { get; set; }

        public int TierAtAdmission { get; set; }

        public long AttestedUntil { get; set; }

        public long FlopAttested { get; set; }

        public long GpuSecondsAttested { get; set; }

        public int Part { get; set; }

        /// <summary>Another link in the pool of finished jobs.</summary>
        public RunningJob? NextFree { get; set; }

        public RunningJob Start(TraceJob job, SimulatedAccount account, long index, RequestAmounts amounts)
        {
            (Job, DurationSeconds, AcceleratorCount, Account, Index, Amounts) = (job, job.DurationSeconds, job.AcceleratorCount, account, index, amounts);
            (Attempt, LeaseId, RunStart, TierAtAdmission, AttestedUntil, FlopAttested, GpuSecondsAttested, Part, NextFree) = (0, "", 0, 0, 0, 0, 0, 0, null);
            return this;
        }
    }

    // Finished jobs, reused for the next ones: a replay starts a job for every trace row, and a new
    // object for each streamed fresh memory through the cache, pushing out the accounts' state.
    private RunningJob? _freeJobs;

    private readonly ReplayOptions _options;
    private readonly EffectivePolicy _policy;
    private readonly IReplayBackend _backend;
    private readonly FlopEstimator _estimator = new(AcceleratorCatalogue.Default);
    private readonly EventQueue<(RunningJob? Job, SimulatedAccount? Account, int Level)> _queue = new();
    private readonly Dictionary<string, SimulatedUser> _usersByName = new(StringComparer.Ordinal);
    private readonly List<SimulatedUser> _users = [];
    private SimulatedUser?[] _usersByNumber = new SimulatedUser?[1024];
    private readonly Random _random;
    private readonly long[] _verdicts = new long[Enum.GetValues<Verdict>().Length];
    private readonly ReplayTimeline _timeline;
    private long _jobIndex;
    private long _events;
    private long _accounts;
    private long _first = long.MaxValue;
    private long _last = long.MinValue;

    public ReplaySimulator(ReplayOptions options, IReplayBackend backend, long timelineBucketSeconds)
    {
        options.Validate();
        _options = options;
        _policy = options.Policy.Resolve(options.Marketplace);
        _backend = backend;
        _random = new Random(options.Seed);
        _timeline = new ReplayTimeline(timelineBucketSeconds, _policy.Ladder.Count);
    }

    public EffectivePolicy Policy => _policy;

    /// <summary>Called for every verdict, in order.</summary>
    public Action<VerdictEvent>? OnVerdict { get; init; }

    /// <summary>Called now and then with the number of trace jobs taken so far.</summary>
    public Action<long>? OnProgress { get; init; }

    /// <summary>Replays jobs sorted by start time (as <see cref="TraceLoad.Jobs"/> are), on the calling thread.</summary>
    public ReplayResult Run(IEnumerable<TraceJob> jobs, CancellationToken cancellationToken = default)
    {
        using var next = jobs.GetEnumerator();
        var pending = next.MoveNext() ? next.Current : null;
        long previousStart = long.MinValue;
        while (pending is not null || _queue.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Trace jobs join the queue when their start comes, so the queue holds only what is in flight.
            if (pending is not null && (!_queue.TryPeekTime(out var head) || pending.Start <= head))
            {
                if (pending.Start < previousStart)
                {
                    throw new ArgumentException($"jobs must come sorted by start time: {pending.Line} starts before the job before it", nameof(jobs));
                }

                previousStart = pending.Start;
                var run = Admit(pending);
                var first = _queue.Count == 0 || pending.Start < head;
                pending = next.MoveNext() ? next.Current : null;
                if ((_jobIndex & 0x3FFF) == 0)
                {
                    OnProgress?.Invoke(_jobIndex);
                }

                if (first)
                {
                    // Earlier than everything queued: it would be the next out of the queue anyway.
                    _queue.AdvanceTo(previousStart);
                    Authorize(run, previousStart);
                }
                else
                {
                    Schedule(previousStart, EventKind.Authorize, run, null, 0);
                }

                continue;
            }

            _queue.TryDequeue(out var item, out var time, out var kind);
            switch ((EventKind)kind)
            {
                case EventKind.StepUpDone:
                    CompleteStepUp(item.Account!, item.Level, time);
                    break;
                case EventKind.Attest:
                    Attest(item.Job!, time);
                    break;
                default:
                    Authorize(item.Job!, time);
                    break;
            }
        }

        OnProgress?.Invoke(_jobIndex);
        return new ReplayResult(_policy, _options, _users, _verdicts, _timeline, _jobIndex, _events, _accounts,
            _first == long.MaxValue ? 0 : _first, _last == long.MinValue ? 0 : _last);
    }

    private RunningJob Admit(TraceJob job)
    {
        var user = UserOf(job);

        // Sybil what-if: the user's jobs go round-robin to its pseudonyms. (The first pseudonym is
        // checked first: the list of pseudonyms is one object more to fetch per job otherwise.)
        var slot = _options.SybilSplit == 1 ? 0 : (int)(user.Jobs % _options.SybilSplit);
        while ((slot > 0 || user.FirstPseudonym is null) && user.Pseudonyms.Count <= slot)
        {
            var name = _options.SybilSplit == 1 ? user.Name : $"{user.Name}~{user.Pseudonyms.Count + 1}";
            var root = _options.SybilLinked && user.Pseudonyms.Count > 0 ? user.Pseudonyms[0] : null;
            var pseudonym = new SimulatedAccount((int)_accounts++, user, name, root);
            user.Pseudonyms.Add(pseudonym);
            user.FirstPseudonym ??= pseudonym;

            // Opened as soon as it is made (a cluster's root first, as it is made first), so that
            // what the backend keeps for it lies in memory next to it: a replay fetches thousands
            // of accounts in turn, and each one's state from a separate place was a cache miss more.
            _backend.OpenAccount(pseudonym, job.Start);
        }

        // The first pseudonym is kept on the user too: one pointer fewer to follow per job, for the
        // thousands of users a large trace cycles through.
        var account = slot == 0 ? user.FirstPseudonym! : user.Pseudonyms[slot];
        var lease = new LeaseRequest("amounts", job.AcceleratorModel, job.AcceleratorCount, job.DurationSeconds, ReplayLease.Precision, job.FlopUnits, CheckOnly: false);
        var amounts = AdmissionEngine.AmountsOf(_estimator, _policy, lease);
        user.Jobs++;
        user.FlopRequested += amounts.FlopUnits;
        if (user.FirstJobAt == long.MinValue)
        {
            user.FirstJobAt = job.Start;
        }

        _first = Math.Min(_first, job.Start);
        _last = Math.Max(_last, job.End);
        var run = _freeJobs ?? new RunningJob();
        _freeJobs = run.NextFree;
        return run.Start(job, account, _jobIndex++, amounts);
    }

    /// <summary>
    /// The job's user: by the account's number when the trace has numbered it (no string is hashed
    /// then; the name is still compared, by reference first, since a number means nothing outside
    /// the trace load that gave it), else by name.
    /// </summary>
    private SimulatedUser UserOf(TraceJob job)
    {
        var number = job.AccountNumber;
        if (number >= 0 && number < _usersByNumber.Length && _usersByNumber[number] is { } known && string.Equals(known.Name, job.Account, StringComparison.Ordinal))
        {
            return known;
        }

        if (!_usersByName.TryGetValue(job.Account, out var user))
        {
            user = new SimulatedUser(_users.Count, job.Account, _policy.Ladder.Count);
            _usersByName.Add(job.Account, user);
            _users.Add(user);
        }

        // A load numbers its accounts from 0 up: a number far beyond the users seen so far was set by
        // hand, and is not worth an array that large.
        if (number >= 0 && number < 16 * (_users.Count + 1024))
        {
            if (number >= _usersByNumber.Length)
            {
                Array.Resize(ref _usersByNumber, Math.Max(number + 1, _usersByNumber.Length * 2));
            }

            _usersByNumber[number] = user;
        }

        return user;
    }

    private void Authorize(RunningJob run, long now)
    {
        var account = run.Account;
        var user = account.User;
        if (user.AbandonedAt is not null)
        {
            user.JobsLost++;
            user.FlopLost += run.Amounts.FlopUnits;
            Finish(run);
            return;
        }

        if (account.PendingUntil > now)
        {
            // The user is busy with a step-up: the job waits for it.
            Schedule(account.PendingUntil, EventKind.Authorize, run, null, 0);
            return;
        }

        run.LeaseId = run.Attempt == 0 ? JobLeaseId(run.Index) : $"job-{run.Index}-{run.Attempt}";
        run.Attempt++;
        var answer = _backend.Authorize(account, run.LeaseId, run.Job, now);
        _events++;
        _verdicts[(int)answer.Verdict]++;
        OnVerdict?.Invoke(new VerdictEvent(now, account.Pseudonym, run.LeaseId, answer.Verdict, account.TierLevel, answer.RequiredTierLevel, answer.FlopUnits));
        switch (answer.Verdict)
        {
            case Verdict.Allow or Verdict.AllowNearLimit:
                run.RunStart = now;
                run.AttestedUntil = now;
                run.TierAtAdmission = account.TierLevel;
                user.JobsRun++;
                Schedule(NextAttestation(run), EventKind.Attest, run, null, 0);
                break;
            case Verdict.RequireStatedPurpose or Verdict.RequireIdentity or Verdict.RequireOrganisation:
                if (AskToStepUp(run, answer, now) is { } level)
                {
                    // No delay: the user steps up at once and the same job asks again before anything else happens.
                    CompleteStepUp(account, level, now);
                    Authorize(run, now);
                }

                break;
            default:
                user.JobsDenied++;
                user.FlopDenied += run.Amounts.FlopUnits;
                user.FirstDeniedAt ??= now;
                Finish(run);
                break;
        }
    }

    /// <summary>Records the request and lets the user abandon or step up; returns the tier level when the step-up takes no time.</summary>
    private int? AskToStepUp(RunningJob run, AuthorizeAnswer answer, long now)
    {
        var account = run.Account;
        var user = account.User;
        var level = answer.RequiredTierLevel ?? throw new InvalidOperationException($"{answer.Verdict} without a required tier for lease {run.LeaseId}");
        var requirement = _policy.Tier(level).Requirement;
        user.FirstStepUpAt ??= now;
        switch (requirement)
        {
            case RequirementKind.StatedPurpose when user.FirstAskedPurposeAt is null:
                user.FirstAskedPurposeAt = now;
                _timeline.Asked(now, requirement);
                break;
            case RequirementKind.Identity when user.FirstAskedIdentityAt is null:
                user.FirstAskedIdentityAt = now;
                _timeline.Asked(now, requirement);
                break;
            case RequirementKind.Organisation when user.FirstAskedOrganisationAt is null:
                user.FirstAskedOrganisationAt = now;
                _timeline.Asked(now, requirement);
                break;
        }

        // The only random choice; drawn in event order, so the same seed gives the same run.
        var probability = _options.Behaviour.AbandonFor(requirement);
        if (probability > 0 && _random.NextDouble() < probability)
        {
            user.AbandonedAt = now;
            user.AbandonedAtStep = requirement;
            user.JobsLost++;
            user.FlopLost += run.Amounts.FlopUnits;
            Finish(run);
            return null;
        }

        var delay = _options.Behaviour.DelayFor(requirement);
        if (delay == 0)
        {
            return level;
        }

        account.PendingUntil = now + delay;
        Schedule(account.PendingUntil, EventKind.StepUpDone, null, account, level);
        Schedule(account.PendingUntil, EventKind.Authorize, run, null, 0);
        return null;
    }

    private void CompleteStepUp(SimulatedAccount account, int level, long now)
    {
        if (level <= account.TierLevel)
        {
            return;
        }

        _backend.StepUp(account, level, _policy.Tier(level).Requirement, now);
        _events++;
        account.TierLevel = level;
        account.User.HighestTier = Math.Max(account.User.HighestTier, level);
    }

    private long NextAttestation(RunningJob run) =>
        Math.Min(run.AttestedUntil + _options.AttestIntervalSeconds, run.RunStart + run.DurationSeconds);

    private void Attest(RunningJob run, long now)
    {
        var end = run.RunStart + run.DurationSeconds;
        var final = now >= end;
        // Cumulative shares, so the parts add up to the job's FLOP exactly.
        var flopSoFar = final ? run.Amounts.FlopUnits : Share(run.Amounts.FlopUnits, now - run.RunStart, run.DurationSeconds);
        var flop = flopSoFar - run.FlopAttested;
        var gpuSeconds = run.AcceleratorCount * (now - run.AttestedUntil);
        var intervalStart = run.AttestedUntil;
        _backend.Attest(run.Account, run.LeaseId, run.Job, run.Part, flop, gpuSeconds, intervalStart, now, final);
        _events++;
        run.Part++;
        run.FlopAttested = flopSoFar;
        run.GpuSecondsAttested += gpuSeconds;
        run.AttestedUntil = now;

        // A job that waited for a step-up ends later than the trace says.
        _last = Math.Max(_last, now);
        _timeline.Ran(intervalStart, now, run.TierAtAdmission, flop);
        if (!final)
        {
            Schedule(NextAttestation(run), EventKind.Attest, run, null, 0);
            return;
        }

        // The user's totals take the job's whole run at its end: one visit to the user per job, not per attestation.
        var user = run.Account.User;
        user.FlopRun += run.FlopAttested;
        user.GpuSecondsRun += run.GpuSecondsAttested;
        user.FlopRunByTier[run.TierAtAdmission] += run.FlopAttested;
        Finish(run);
    }

    /// <summary>Returns a job that has nothing more queued to the pool (each job has at most one event queued at a time).</summary>
    private void Finish(RunningJob run)
    {
        run.NextFree = _freeJobs;
        _freeJobs = run;
    }

    /// <summary>"job-&lt;index&gt;", formatted on the stack (an interpolated string rents and returns a pooled buffer, which cost more than the rest of an admission here).</summary>
    private static string JobLeaseId(long index)
    {
        Span<char> chars = stackalloc char[24];
        "job-".CopyTo(chars);
        index.TryFormat(chars[4..], out var digits, default, CultureInfo.InvariantCulture);
        return new string(chars[..(4 + digits)]);
    }

    /// <summary>floor(total x part / whole), exact; in 64 bits when the product fits (a 128-bit division is a slow software routine).</summary>
    internal static long Share(long total, long part, long whole)
    {
        var high = Math.BigMul(total, part, out long low);
        return high == 0 && low >= 0 ? low / whole : (long)((Int128)total * part / whole);
    }

    private void Schedule(long time, EventKind kind, RunningJob? job, SimulatedAccount? account, int level) =>
        _queue.Enqueue(time, (int)kind, (job, account, level));
}
