namespace Oversight.Policy.Documents;

/// <summary>The document's snake_case keys, shared by the loader, the writer and the validator's field paths.</summary>
internal static class PolicyKeys
{
    public const string Windows = "windows";
    public const string Ladder = "ladder";
    public const string NearLimitFraction = "near_limit_fraction";
    public const string Utilisation = "utilisation";
    public const string SharedTiers = "shared_tiers";
    // "Key" because FailMode is also the enum's name.
    public const string FailModeKey = "fail_mode";
    public const string HoldTtlSeconds = "hold_ttl_seconds";
    public const string CountedMarkRetentionSeconds = "counted_mark_retention_seconds";
    public const string Overrides = "overrides";

    public const string Id = "id";
    public const string LengthSeconds = "length_seconds";
    public const string BucketSeconds = "bucket_seconds";
    public const string DisplayName = "display_name";
    public const string Requirement = "requirement";
    public const string Limits = "limits";
    public const string FlopUnits = "flop_units";
    public const string GpuSeconds = "gpu_seconds";

    /// <summary>Top-level keys an override may carry: all but the overrides themselves.</summary>
    public static readonly string[] OverrideKeys =
        [Windows, Ladder, NearLimitFraction, Utilisation, SharedTiers, FailModeKey, HoldTtlSeconds, CountedMarkRetentionSeconds];

    public static readonly string[] DocumentKeys = [.. OverrideKeys, Overrides];

    public static readonly string[] WindowKeys = [Id, LengthSeconds, BucketSeconds];

    public static readonly string[] TierKeys = [Id, DisplayName, Requirement, Limits];

    public static readonly string[] LimitKeys = [FlopUnits, GpuSeconds];

    public static string Of(Metric metric) => metric switch
    {
        Metric.FlopUnits => FlopUnits,
        Metric.GpuSeconds => GpuSeconds,
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, "no such metric"),
    };

    // The YAML spelling of enum members: snake_case of the C# name.
    public static readonly IReadOnlyDictionary<string, RequirementKind> Requirements = new Dictionary<string, RequirementKind>
    {
        ["none"] = RequirementKind.None,
        ["stated_purpose"] = RequirementKind.StatedPurpose,
        ["identity"] = RequirementKind.Identity,
        ["organisation"] = RequirementKind.Organisation,
    };

    public static readonly IReadOnlyDictionary<string, Policy.FailMode> FailModes = new Dictionary<string, Policy.FailMode>
    {
        ["closed"] = Policy.FailMode.Closed,
        ["open"] = Policy.FailMode.Open,
    };

    public static string Of(RequirementKind kind) => Requirements.Single(r => r.Value == kind).Key;

    public static string Of(Policy.FailMode mode) => FailModes.Single(r => r.Value == mode).Key;
}
