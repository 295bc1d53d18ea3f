using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Oversight.Kyc.V1;
using Oversight.Kyc.Verification;

namespace Oversight.Kyc.Tests;

/// <summary>
/// Properties of verification-result ingest: any arrival order of a set of provider results,
/// with any duplicates, ends in the same state, namely the latest approval if there is one,
/// else the latest result; and once approved, the status never goes back.
/// </summary>
public class VerificationIngestProperties(KycHostFixture fixture) : IClassFixture<KycHostFixture>
{
    private static readonly DateTimeOffset Base = DateTimeOffset.UtcNow.AddHours(-1);

    /// <summary>Distinct results (ids evt-0..n) and the order they arrive in, duplicates included.</summary>
    public sealed record Delivery(VerificationResult[] Results, int[] Arrivals)
    {
        public override string ToString() =>
            string.Join(", ", Results.Select(r => $"{r.EventId}:{r.Status}@{(r.OccurredAt - Base).TotalMinutes:0}m")) + " arriving " + string.Join(" ", Arrivals);
    }

    public static class Generators
    {
        public static Arbitrary<Delivery> Deliveries() => Arb.From(
            from count in Gen.Choose(1, 7)
            // Few distinct minutes, so equal times (ties) are common.
            from shapes in Gen.ArrayOf(Gen.Zip(Gen.Choose(0, 3), Gen.Elements(VerificationOutcome.Pending, VerificationOutcome.Failed, VerificationOutcome.Approved)), count)
            from duplicates in Gen.ArrayOf(Gen.Choose(0, count - 1))
            from arrivals in Gen.Shuffle(Enumerable.Range(0, count).Concat(duplicates).ToArray())
            select new Delivery(
                shapes.Select((s, i) => new VerificationResult($"evt-{i}", "session", s.Item2, null, Base.AddMinutes(s.Item1), null)).ToArray(),
                arrivals));
    }

    /// <summary>What the rule promises, computed without it.</summary>
    private static VerificationResult Expected(Delivery d)
    {
        var candidates = d.Results.Any(r => r.Status == VerificationOutcome.Approved)
            ? d.Results.Where(r => r.Status == VerificationOutcome.Approved)
            : d.Results;
        return candidates.Aggregate((a, b) => VerificationIngest.Compare(a.OccurredAt, a.Status, a.EventId, b.OccurredAt, b.Status, b.EventId) >= 0 ? a : b);
    }

    [Property(Arbitrary = [typeof(Generators)], MaxTest = 1000)]
    public bool AnyOrderWithDuplicates_EndsWithTheLatestApprovalElseTheLatestResult_AndNeverLeavesApproved(Delivery delivery)
    {
        AppliedEvent? state = null;
        var seen = new HashSet<string>();
        foreach (var result in delivery.Arrivals.Select(i => delivery.Results[i]))
        {
            // Duplicates are refused by the provider-events table before the rule runs.
            if (!seen.Add(result.EventId) || !VerificationIngest.ShouldApply(state, result))
            {
                continue;
            }

            if (state?.Status == VerificationOutcome.Approved && result.Status != VerificationOutcome.Approved)
            {
                return false;
            }

            state = new AppliedEvent(result.Status, result.OccurredAt, result.EventId);
        }

        var expected = Expected(delivery);
        return state is not null && state.EventId == expected.EventId && state.Status == expected.Status;
    }

    /// <summary>The same property end to end: signed callbacks over gRPC into PostgreSQL, one account per case.</summary>
    [Fact]
    public void AnyOrderWithDuplicates_ThroughTheService_EndsInTheSameStateAndTier()
    {
        var property = Prop.ForAll(Generators.Deliveries(), delivery => Task.Run(() => CheckThroughServiceAsync(delivery)).GetAwaiter().GetResult());
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(12), property);
    }

    private async Task<bool> CheckThroughServiceAsync(Delivery delivery)
    {
        var (marketplace, op) = fixture.NewMarketplace();
        var client = fixture.Client;
        await client.CreateAccountAsync(new CreateAccountRequest { MarketplaceId = marketplace, AccountId = "v" }, op);
        var session = await client.StartIdentityVerificationAsync(new StartIdentityVerificationRequest { MarketplaceId = marketplace, AccountId = "v" }, op);
        var appliedIds = new List<string>();
        foreach (var result in delivery.Arrivals.Select(i => delivery.Results[i]))
        {
            // Provider event ids are unique per provider, across sessions.
            var document = new VerificationPayload.Document($"{session.SessionRef}-{result.EventId}", session.SessionRef, result.Status.ToString().ToLowerInvariant(), null,
                result.OccurredAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture), null);
            var response = await client.SubmitVerificationResultAsync(fixture.Signed(document));
            if (response.Applied)
            {
                appliedIds.Add(result.EventId);
            }
        }

        var expected = Expected(delivery);
        var account = (await client.GetAccountAsync(new GetAccountRequest { MarketplaceId = marketplace, AccountId = "v" }, op)).Account;
        await using var db = fixture.NewDbContext();
        var record = db.Verifications.Single(v => v.SessionRef == session.SessionRef);
        var anyApproved = delivery.Results.Any(r => r.Status == VerificationOutcome.Approved);
        return record.LastEventId == $"{session.SessionRef}-{expected.EventId}"
            && record.Status == expected.Status.ToString().ToUpperInvariant()
            && account.Tier.Id == (anyApproved ? "identity_verified" : "anonymous")
            && appliedIds.Count == appliedIds.Distinct().Count();
    }
}
