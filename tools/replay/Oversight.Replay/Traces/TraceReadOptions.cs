namespace Oversight.Replay.Traces;

/// <summary>
/// What the reader needs besides the files: values for fields a trace lacks (each use is stated
/// in the report as an assumption) and whether malformed rows stop the run.
/// </summary>
public sealed record TraceReadOptions
{
    /// <summary>Accelerator model for traces that name none (Alibaba LoRA, Philly, Helios, Acme).</summary>
    public string? Accelerator { get; init; }

    /// <summary>Accelerators per job for traces that give no count (Alibaba LoRA).</summary>
    public int? AcceleratorCount { get; init; }

    /// <summary>Unix seconds that relative trace times (Philly-Chronus "seconds from trace start") count from.</summary>
    public long? TraceStart { get; init; }

    /// <summary>Skip malformed rows (counted by reason) instead of stopping at the first.</summary>
    public bool SkipBadRows { get; init; }

    /// <summary>Companion file of a two-table format (the PAI 2020 task table).</summary>
    public string? CompanionFile { get; init; }
}
