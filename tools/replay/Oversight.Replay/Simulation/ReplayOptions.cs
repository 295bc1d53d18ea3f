using Oversight.Policy;
using Oversight.Policy.Documents;

namespace Oversight.Replay.Simulation;

/// <summary>
/// How the simulated users behave at a step-up. Defaults: nobody abandons (so a plain replay
/// measures the policy alone; the abandonment what-if sets probabilities), and a step-up takes
/// 5 minutes for a stated purpose, 1 hour for an identity check and 3 days for an organisation
/// check (typical turnaround of a form, a document-and-selfie check and a registry check).
/// </summary>
public sealed record UserBehaviour
{
    public long PurposeDelaySeconds { get; init; } = 300;

    public long IdentityDelaySeconds { get; init; } = 3600;

    public long OrganisationDelaySeconds { get; init; } = 3 * 86400;

    public double AbandonAtPurpose { get; init; }

    public double AbandonAtIdentity { get; init; }

    public double AbandonAtOrganisation { get; init; }

    public long DelayFor(RequirementKind kind) => kind switch
    {
        RequirementKind.StatedPurpose => PurposeDelaySeconds,
        RequirementKind.Identity => IdentityDelaySeconds,
        RequirementKind.Organisation => OrganisationDelaySeconds,
        _ => 0,
    };

    public double AbandonFor(RequirementKind kind) => kind switch
    {
        RequirementKind.StatedPurpose => AbandonAtPurpose,
        RequirementKind.Identity => AbandonAtIdentity,
        RequirementKind.Organisation => AbandonAtOrganisation,
        _ => 0,
    };

    /// <summary>Throws when a delay is negative or a probability outside [0, 1].</summary>
    public void Validate()
    {
        foreach (var (name, delay) in new[] { ("purpose delay", PurposeDelaySeconds), ("identity delay", IdentityDelaySeconds), ("organisation delay", OrganisationDelaySeconds) })
        {
            if (delay < 0)
            {
                throw new ArgumentOutOfRangeException(name, delay, $"the {name} must be 0 or more seconds");
            }
        }

        foreach (var (name, p) in new[] { ("abandon-at-purpose", AbandonAtPurpose), ("abandon-at-identity", AbandonAtIdentity), ("abandon-at-organisation", AbandonAtOrganisation) })
        {
            if (p is < 0 or > 1 || double.IsNaN(p))
            {
                throw new ArgumentOutOfRangeException(name, p, $"{name} is a probability between 0 and 1");
            }
        }
    }
}

/// <summary>Everything a replay depends on besides the trace. The same options, trace and seed give the same outputs, byte for byte.</summary>
public sealed record ReplayOptions
{
    public required PolicyDocument Policy { get; init; }

    /// <summary>Where the policy came from ("default" or a file name), for the report.</summary>
    public string PolicySource { get; init; } = "default";

    /// <summary>The marketplace the replay plays (its policy overrides apply).</summary>
    public string Marketplace { get; init; } = "replay";

    public UserBehaviour Behaviour { get; init; } = new();

    /// <summary>Seeds the only random choice (abandoning at a step-up).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Providers attest a running job at least this often (partial attestations, then a final one).</summary>
    public long AttestIntervalSeconds { get; init; } = 3600;

    /// <summary>Sybil what-if: each trace account's jobs are spread round-robin over this many pseudonyms.</summary>
    public int SybilSplit { get; init; } = 1;

    /// <summary>Whether KYC links a user's pseudonyms (they then share the budgets of the shared tiers).</summary>
    public bool SybilLinked { get; init; }

    /// <summary>Timeline granularity; null picks one from the trace's span (at most about 400 points).</summary>
    public long? TimelineBucketSeconds { get; init; }

    public void Validate()
    {
        Behaviour.Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(AttestIntervalSeconds, "attest interval");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(SybilSplit, "sybil split");
        if (TimelineBucketSeconds is { } bucket)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bucket, "timeline bucket");
        }
    }
}
