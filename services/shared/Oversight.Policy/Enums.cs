namespace Oversight.Policy;

// These mirror oversight.common.v1 (common.proto) member for member and number for number,
// so a service converts with a cast; the core stays free of the generated proto types.

/// <summary>The answer to "may this account use this much compute now?".</summary>
public enum Verdict
{
    Unspecified = 0,
    Allow = 1,
    AllowNearLimit = 2,
    RequireStatedPurpose = 3,
    RequireIdentity = 4,
    RequireOrganisation = 5,
    Deny = 6,
}

/// <summary>What an account must have done to hold a tier.</summary>
public enum RequirementKind
{
    Unspecified = 0,
    None = 1,
    StatedPurpose = 2,
    Identity = 3,
    Organisation = 4,
}

/// <summary>Numeric precision a workload ran at; selects the accelerator's peak FLOP/s.</summary>
public enum PrecisionClass
{
    Unspecified = 0,
    Fp64 = 1,
    Fp32 = 2,
    Tf32 = 3,
    /// <summary>BF16 or FP16 tensor math with FP32 accumulate (dense).</summary>
    Bf16 = 4,
    Fp8 = 5,
    Int8 = 6,
}

/// <summary>What a window counts.</summary>
public enum Metric
{
    Unspecified = 0,
    /// <summary>Units of 10^12 FLOP.</summary>
    FlopUnits = 1,
    /// <summary>Whole GPU-seconds (accelerator count x seconds).</summary>
    GpuSeconds = 2,
}

/// <summary>What enforcement answers when it cannot decide (its store is down or rebuilding).</summary>
public enum FailMode
{
    /// <summary>Refuse: nothing runs uncounted (the default).</summary>
    Closed = 0,
    /// <summary>Allow: availability over oversight; usage is still counted when attested.</summary>
    Open = 1,
}

/// <summary>Whose usage a figure is: the account's own, or its cluster of linked accounts.</summary>
public enum SubjectKind
{
    Own = 0,
    Cluster = 1,
}
