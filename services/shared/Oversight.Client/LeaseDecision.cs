using Oversight.Common.V1;
using Oversight.Enforcement.V1;

namespace Oversight.Client;

/// <summary>What an Authorize verdict asks of the marketplace.</summary>
public enum LeaseDecisionKind
{
    /// <summary>ALLOW or ALLOW_NEAR_LIMIT: run the lease; a reservation holds its amount.</summary>
    Allow,

    /// <summary>REQUIRE_STATED_PURPOSE: the user must state a purpose (KYC StatePurpose), then ask again.</summary>
    StatePurpose,

    /// <summary>REQUIRE_IDENTITY: the user must verify an identity (KYC StartIdentityVerification), then ask again.</summary>
    VerifyIdentity,

    /// <summary>REQUIRE_ORGANISATION: the user must verify an organisation (KYC StartOrganisationVerification), then ask again.</summary>
    VerifyOrganisation,

    /// <summary>DENY: the account is suspended, or no tier of the ladder fits the request.</summary>
    Deny,
}

/// <summary>
/// The answer of <see cref="OversightClient.AuthorizeLeaseAsync(AuthorizeRequest, CancellationToken)"/>:
/// whether the lease may run, and if not what the user must do next.
/// </summary>
public sealed class LeaseDecision
{
    private LeaseDecision(LeaseDecisionKind kind, AuthorizeResponse response)
    {
        Kind = kind;
        Response = response;
    }

    /// <summary>Allow, or the next step the user must take, or Deny.</summary>
    public LeaseDecisionKind Kind { get; }

    /// <summary>True when the lease may run (ALLOW or ALLOW_NEAR_LIMIT).</summary>
    public bool IsAllowed => Kind == LeaseDecisionKind.Allow;

    /// <summary>ALLOW_NEAR_LIMIT: allowed, but a window is past the policy's near-limit fraction.</summary>
    public bool IsNearLimit => Response.Verdict == Verdict.AllowNearLimit;

    /// <summary>The service's explanation, fit to show to the user.</summary>
    public string Message => Response.Message;

    /// <summary>The tier the request needs (absent on DENY when no tier fits).</summary>
    public Tier? RequiredTier => Response.RequiredTier;

    /// <summary>The account's tier now.</summary>
    public Tier? CurrentTier => Response.CurrentTier;

    /// <summary>The window that decided: the exhausted one when not allowed, the closest to its limit when near it.</summary>
    public WindowUsage? DecidingWindow => Response.DecidingWindow;

    /// <summary>The hold on the account's budget when allowed (and not check-only).</summary>
    public Reservation? Reservation => Response.Reservation;

    /// <summary>True when this answer repeats an earlier reservation of the same lease.</summary>
    public bool Replayed => Response.Replayed;

    /// <summary>The service's whole answer.</summary>
    public AuthorizeResponse Response { get; }

    /// <summary>
    /// Reads a verdict. A verdict this client does not know (from a newer service) is read as
    /// <see cref="LeaseDecisionKind.Deny"/>: a client never allows what it cannot understand.
    /// </summary>
    public static LeaseDecision From(AuthorizeResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        var kind = response.Verdict switch
        {
            Verdict.Allow or Verdict.AllowNearLimit => LeaseDecisionKind.Allow,
            Verdict.RequireStatedPurpose => LeaseDecisionKind.StatePurpose,
            Verdict.RequireIdentity => LeaseDecisionKind.VerifyIdentity,
            Verdict.RequireOrganisation => LeaseDecisionKind.VerifyOrganisation,
            _ => LeaseDecisionKind.Deny,
        };
        return new LeaseDecision(kind, response);
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"{Kind}{(IsNearLimit ? " (near limit)" : "")}{(RequiredTier is { } tier && !IsAllowed ? $", requires tier '{tier.Id}'" : "")}: {Message}";
}
