using Oversight.Replay.Traces;

namespace Oversight.Replay.Tests;

/// <summary>The real public traces in ../shared/traces beside the repository (read there, never copied).</summary>
internal static class SharedTraces
{
    public static string RepositoryRoot { get; } = FindRoot();

    public static string Lora => Path.Combine(RepositoryRoot, "..", "shared", "traces", "alibaba-genai-lora", "lora_request_trace.csv");

    public static string Philly => Path.Combine(RepositoryRoot, "..", "shared", "traces", "philly-chronus", "trace_job_Philly_MIX1.csv");

    /// <summary>The Philly-derived trace, read with the default options.</summary>
    public static TraceLoad LoadPhilly() => TraceFormats.Load(Philly, null, new TraceReadOptions());

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Oversight.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Oversight.sln not found above " + AppContext.BaseDirectory);
    }
}
