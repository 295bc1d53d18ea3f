using System.Diagnostics;
using System.Globalization;
using Oversight.Policy;
using Oversight.Policy.Documents;
using Oversight.Replay.Benchmarks;
using Oversight.Replay.Simulation;

// Replay benchmark (issue 7, item 8). Replays a synthetic trace through the replay's own entry
// point (ReplaySimulator on InProcessBackend: AdmissionEngine on the in-memory counter store,
// the default policy) on ONE thread, twice with the same accounts (N and 2N jobs), and prints
// events per second and memory for each: memory should follow the accounts, not the events.
//
//   dotnet run -c Release --project tests/Oversight.Replay.Benchmarks -- [--accounts 10000] [--jobs 1000000] [--seed 1] [--simulator-only]
//
// --simulator-only replays through a backend that decides nothing (every job allowed, nothing
// counted): what the simulator itself costs, for comparison, not the benchmark's figure.
if (args.Any(a => a is "-h" or "--help") || args.Except(["--accounts", "--jobs", "--seed", "--simulator-only"]).Any(a => a.StartsWith('-')))
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project tests/Oversight.Replay.Benchmarks -- [--accounts 10000] [--jobs 1000000] [--seed 1] [--simulator-only]  (README.md beside it explains the columns)");
    return args.Any(a => a is "-h" or "--help") ? 0 : 2;
}

var accounts = Option("--accounts", 10_000);
var jobs = Option("--jobs", 1_000_000);
var seed = Option("--seed", 1);
var simulatorOnly = args.Contains("--simulator-only");

Console.WriteLine(simulatorOnly
    ? $"replay benchmark, SIMULATOR ONLY (a backend that decides nothing; not the benchmark's figure): {accounts:N0} accounts, one thread, .NET {Environment.Version}, {Environment.ProcessorCount} processors"
    : $"replay benchmark: default policy, {accounts:N0} accounts, one thread, .NET {Environment.Version}, {Environment.ProcessorCount} processors");
// Events per second of wall time and of this process's CPU time: on a busy machine the second is
// the fairer figure (the replay and, with workstation non-concurrent GC, its collections run on one thread).
Console.WriteLine($"{"jobs",12} {"events",12} {"seconds",8} {"events/s",12} {"events/cpu-s",13} {"jobs/s",10} {"alloc/event",12} {"heap after",11} {"peak RSS",10} {"GC time",7} {"GCs",6}  verdicts");
await Measure(Math.Max(1, jobs / 10), warmup: true); // JIT and tiering
foreach (var n in new[] { jobs, jobs * 2 })
{
    await Measure(n, warmup: false);
}

return 0;

async Task Measure(long jobCount, bool warmup)
{
    var options = new ReplayOptions
    {
        Policy = DefaultPolicy.Document,
        Behaviour = new UserBehaviour { AbandonAtPurpose = 0.02, AbandonAtIdentity = 0.1 },
        TimelineBucketSeconds = 86400,
        Seed = seed,
    };
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();
    var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
    var pausedBefore = GC.GetTotalPauseDuration();
    var collectionsBefore = GC.CollectionCount(0);
    IReplayBackend backend = simulatorOnly ? new AllowEverythingBackend() : new InProcessBackend(options.Policy.Resolve(options.Marketplace));
    var simulator = new ReplaySimulator(options, backend, 86400);
    var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    var result = simulator.Run(SyntheticTrace.Jobs(accounts, jobCount, seed));
    clock.Stop();
    var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
    var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
    var paused = (GC.GetTotalPauseDuration() - pausedBefore).TotalSeconds;
    var collections = GC.CollectionCount(0) - collectionsBefore;
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();
    var heap = GC.GetTotalMemory(forceFullCollection: true);
    GC.KeepAlive(result);
    GC.KeepAlive(simulator);
    if (warmup)
    {
        return;
    }

    var verdicts = string.Join(" ", Enum.GetValues<Verdict>().Where(v => v != Verdict.Unspecified && result.VerdictCount(v) > 0)
        .Select(v => $"{v}={result.VerdictCount(v)}"));
    var seconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{jobCount,12:N0} {result.Events,12:N0} {seconds,8:F2} {result.Events / seconds,12:N0} {result.Events / cpu,13:N0} {jobCount / seconds,10:N0} {allocated / (double)result.Events,10:N0} B {heap / 1e6,8:N1} MB {Environment.WorkingSet / 1e6,7:N0} MB {paused / seconds,7:P0} {collections,6:N0}  {verdicts}"));
}

int Option(string name, int fallback)
{
    var index = Array.IndexOf(args, name);
    if (index < 0)
    {
        return fallback;
    }

    if (index + 1 < args.Length && int.TryParse(args[index + 1], CultureInfo.InvariantCulture, out var value) && value > 0)
    {
        return value;
    }

    Console.Error.WriteLine($"{name} needs a whole number above 0");
    Environment.Exit(2);
    return 0;
}
