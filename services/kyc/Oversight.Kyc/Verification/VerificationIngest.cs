namespace Oversight.Kyc.Verification;

/// <summary>What a verification record holds of the result applied last (null: none yet).</summary>
public sealed record AppliedEvent(VerificationOutcome Status, DateTimeOffset OccurredAt, string EventId);

/// <summary>
/// The ingest rule for provider results, safe against duplicates and any arrival order
/// (REFERENCE.md, KYC lessons):
/// <list type="bullet">
/// <item>results are totally ordered by (occurred_at, status precedence pending &lt; failed &lt;
/// approved, event_id): a result applies only if it comes after the one applied last, so an
/// older result never overrides a newer one and ties never depend on arrival order;</item>
/// <item>an approval is never downgraded: once approved, only a later approval applies
/// (a re-verification); pending and failed results are recorded as seen and change nothing.</item>
/// </list>
/// Duplicates (same provider and event id) are refused before this rule by the
/// provider-events table. The final state after any order of a set of results is therefore:
/// the latest approval if there is one, else the latest result.
/// </summary>
public static class VerificationIngest
{
    public static bool ShouldApply(AppliedEvent? last, VerificationResult incoming)
    {
        if (last is null)
        {
            return true;
        }

        if (last.Status == VerificationOutcome.Approved && incoming.Status != VerificationOutcome.Approved)
        {
            return false;
        }

        return Compare(incoming.OccurredAt, incoming.Status, incoming.EventId, last.OccurredAt, last.Status, last.EventId) > 0;
    }

    public static int Compare(DateTimeOffset atA, VerificationOutcome statusA, string idA, DateTimeOffset atB, VerificationOutcome statusB, string idB)
    {
        var byTime = atA.CompareTo(atB);
        if (byTime != 0)
        {
            return byTime;
        }

        var byStatus = Precedence(statusA).CompareTo(Precedence(statusB));
        return byStatus != 0 ? byStatus : string.CompareOrdinal(idA, idB);
    }

    private static int Precedence(VerificationOutcome status) => status switch
    {
        VerificationOutcome.Approved => 2,
        VerificationOutcome.Failed => 1,
        _ => 0,
    };
}
