namespace Oversight.Kyc.Verification;

/// <summary>What a verification record holds of the result applied last (null: none yet).</summary>
public sealed record AppliedEvent(VerificationOutcome Status, DateTimeOffset OccurredAt, string EventId);

/// <summary>
/// The ingest rule for provider results, safe against duplicates and any arrival order
/// (REFERENCE.md, KYC lessons: verdicts only escalate; out-of-order and duplicate callbacks
/// never downgrade an approved user):
/// <list type="bullet">
/// <item>results are totally ordered by (occurred_at, status precedence pending &lt; failed &lt;
/// approved, event_id), so ties never depend on arrival order;</item>
/// <item>an approval is never downgraded: once approved, only a later approval applies (a
/// re-verification); pending and failed results are then recorded as seen and change nothing;</item>
/// <item>otherwise a result applies only if it comes after the one applied last: an older
/// pending or failed never overrides a newer result. The one exception is an approval, which
/// overrides a pending or failed even when it is older: had the results arrived in time order,
/// the approval would have stuck and the later non-approval would have been ignored, so the
/// outcome must not depend on the order the network delivered them in.</item>
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

        var lastApproved = last.Status == VerificationOutcome.Approved;
        var incomingApproved = incoming.Status == VerificationOutcome.Approved;
        if (lastApproved != incomingApproved)
        {
            // Approved beats anything else, whatever the times.
            return incomingApproved;
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
