using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Oversight.Policy.Decisions;
using Oversight.Policy.Documents;

namespace Oversight.Policy.Tests;

/// <summary>Properties of the verdict rule over random accounts, usage and requests on the default ladder.</summary>
public class VerdictRuleProperties
{
    private static readonly EffectivePolicy Policy = TestPolicies.Default;

    /// <summary>One random situation: an account, what it and its cluster used, and a request.</summary>
    public sealed record Scenario(AccountStanding Account, UsageSnapshot Snapshot, RequestAmounts Request)
    {
        public override string ToString() =>
            $"{Account}, request {Request}, figures {string.Join("; ", Snapshot.Figures.Select(f => $"{f.Key.Subject}/{f.Key.WindowId}/{f.Key.Metric}={f.Value}"))}";
    }

    public static class Generators
    {
        // Amounts across every scale of the default ladder (1 to 1e15 units), plus zero.
        private static readonly Gen<long> Amount =
            Gen.Frequency(
                (1, Gen.Constant(0L)),
                (9, from mantissa in Gen.Choose(1, 999)
                    from exponent in Gen.Choose(0, 12)
                    select mantissa * (long)Math.Pow(10, exponent)));

        public static Arbitrary<Scenario> Scenarios() => Arb.From(
            from level in Gen.Choose(0, Policy.Ladder.Count - 1)
            from linked in Gen.Elements(true, false)
            let account = new AccountStanding(level, Linked: linked)
            let keys = VerdictRule.RequiredFigures(Policy, account).Concat(VerdictRule.RequiredFigures(Policy, account with { Linked = !linked })).Distinct().ToArray()
            from own in Gen.ArrayOf(Gen.Zip(Amount, Amount), keys.Length)
            from extra in Gen.ArrayOf(Gen.Zip(Amount, Amount), keys.Length)
            from flop in Amount
            from gpu in Amount
            select new Scenario(account, Snapshot(keys, own, extra), new RequestAmounts(flop, gpu)));

        public static Arbitrary<RequestAmounts> Increments() => Arb.From(
            from flop in Amount
            from gpu in Amount
            select new RequestAmounts(flop, gpu));

        // The cluster's figures are the account's own plus the other members', so never smaller.
        private static UsageSnapshot Snapshot(UsageKey[] keys, (long, long)[] own, (long, long)[] extra)
        {
            var snapshot = UsageSnapshot.Empty;
            for (var i = 0; i < keys.Length; i++)
            {
                var (usage, held) = own[i];
                var ownKey = keys[i] with { Subject = SubjectKind.Own };
                var clusterKey = keys[i] with { Subject = SubjectKind.Cluster };
                var ownFigures = snapshot.TryGet(ownKey, out var existing) ? existing : new UsageFigures(usage, held);
                snapshot = snapshot.With(ownKey, ownFigures)
                    .With(clusterKey, new UsageFigures(ownFigures.Usage + extra[i].Item1, ownFigures.Held + extra[i].Item2));
            }
            return snapshot;
        }
    }

    // Where the verdict puts the account: its own tier when allowed, the required tier, or past the top.
    private static int Rank(Decision d) => d.Verdict switch
    {
        Verdict.Allow or Verdict.AllowNearLimit => d.CurrentTierLevel,
        Verdict.Deny => Policy.Ladder.Count,
        _ => d.RequiredTierLevel!.Value,
    };

    private static Decision Decide(Scenario s) => VerdictRule.Decide(Policy, s.Account, s.Snapshot, s.Request);

    [Property(Arbitrary = [typeof(Generators)], MaxTest = 500)]
    public bool IncreasingTheRequest_NeverLowersTheRequiredTier(Scenario s, RequestAmounts more)
    {
        var bigger = s with { Request = new RequestAmounts(s.Request.FlopUnits + more.FlopUnits, s.Request.GpuSeconds + more.GpuSeconds) };

        return Rank(Decide(s)) <= Rank(Decide(bigger));
    }

    [Property(Arbitrary = [typeof(Generators)], MaxTest = 500)]
    public bool Allow_ImpliesEveryLimitOfTheCurrentTierHolds(Scenario s)
    {
        var decision = Decide(s);
        if (decision.Verdict is not (Verdict.Allow or Verdict.AllowNearLimit))
        {
            return true;
        }
        // Checked against the raw limits and figures, not the rule's own assessments.
        return Policy.LimitsFor(s.Account.TierLevel).All(limit =>
        {
            var subject = limit.SharedByCluster && s.Account.Linked ? SubjectKind.Cluster : SubjectKind.Own;
            var figures = s.Snapshot.Get(new UsageKey(subject, limit.WindowId, limit.Metric));
            return (Int128)figures.Usage + figures.Held + s.Request.For(limit.Metric) <= limit.Limit;
        });
    }

    [Property(Arbitrary = [typeof(Generators)], MaxTest = 500)]
    public bool AStepUp_AsksForTheRequirementOfTheLowestTierThatFits(Scenario s)
    {
        var decision = Decide(s);
        if (decision.RequiredTier is null)
        {
            return decision.Verdict is Verdict.Allow or Verdict.AllowNearLimit or Verdict.Deny;
        }
        var expected = decision.RequiredTier.Requirement switch
        {
            RequirementKind.StatedPurpose => Verdict.RequireStatedPurpose,
            RequirementKind.Identity => Verdict.RequireIdentity,
            RequirementKind.Organisation => Verdict.RequireOrganisation,
            _ => Verdict.Unspecified,
        };
        // Granting the required tier makes the same request allowed; the tier below it would not.
        var atRequired = Decide(s with { Account = s.Account with { TierLevel = decision.RequiredTierLevel!.Value } });
        var belowRequired = Decide(s with { Account = s.Account with { TierLevel = decision.RequiredTierLevel.Value - 1 } });
        return decision.Verdict == expected
            && decision.RequiredTierLevel > s.Account.TierLevel
            && atRequired.Verdict is Verdict.Allow or Verdict.AllowNearLimit
            && belowRequired.Verdict is not (Verdict.Allow or Verdict.AllowNearLimit)
            && decision.DecidingWindow is { Fits: false };
    }

    [Property(Arbitrary = [typeof(Generators)], MaxTest = 500)]
    public bool Linking_NeverLowersTheRequiredTier(Scenario s)
    {
        var unlinked = s with { Account = s.Account with { Linked = false } };
        var linked = s with { Account = s.Account with { Linked = true } };

        return Rank(Decide(unlinked)) <= Rank(Decide(linked));
    }

    [Property(Arbitrary = [typeof(Generators)], MaxTest = 200)]
    public bool Suspension_AlwaysDenies(Scenario s) =>
        Decide(s with { Account = s.Account with { Suspended = true } }).Verdict == Verdict.Deny;
}
