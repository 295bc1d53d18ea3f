using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Oversight.Common.V1;
using Oversight.Enforcement.V1;
using Oversight.Kyc.V1;
using Oversight.Policy.Documents;
using Oversight.Replay.Cli;
using Oversight.Replay.Live;
using Oversight.Replay.Reports;
using Oversight.Replay.Simulation;
using Oversight.Replay.Traces;

namespace Oversight.Replay.Tests;

/// <summary>
/// Ctrl-C: a run stops at its next step (a live run's call in flight too), exits 130 with one line,
/// and its output folder holds whole files only: the new run's, all of them, or the earlier ones as they were.
/// </summary>
public sealed class CancellationTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static ReplayOptions Options() => new() { Policy = DefaultPolicy.Document, Seed = 7 };

    [Fact]
    public async Task A_run_cancelled_partway_throws_and_leaves_no_output_files()
    {
        var trace = SharedTraces.LoadPhilly();
        var folder = _folder.Combine("out");
        using var cancel = new CancellationTokenSource();
        long cancelledAfter = 0;

        using (var output = new OutputFolder(folder))
        {
            // As `run --verdict-log` does: the verdict log is written as the replay goes.
            var verdicts = output.CreateText("verdicts.csv");
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ReplayRun.InProcessAsync(trace, Options(), cancel.Token,
                progress: jobs =>
                {
                    if (cancelledAfter == 0)
                    {
                        cancelledAfter = jobs;
                        cancel.Cancel();
                    }
                },
                onVerdict: v => verdicts.Write($"{v.LeaseId},{v.Verdict}\n")));
        }

        Assert.InRange(cancelledAfter, 1, trace.Jobs.Count - 1);
        Assert.False(Directory.Exists(folder), $"an interrupted run left {string.Join(", ", Directory.Exists(folder) ? Directory.GetFileSystemEntries(folder) : [])}");
    }

    [Fact]
    public async Task A_run_cancelled_while_its_outputs_are_written_leaves_the_earlier_runs_files_whole()
    {
        var trace = SharedTraces.LoadPhilly();
        var result = await ReplayRun.InProcessAsync(trace, Options());
        var folder = _folder.Combine("out");
        var earlier = ReplayReports.WriteRun(folder, result, trace, "in-process").ToDictionary(path => path, File.ReadAllBytes);
        using var cancel = new CancellationTokenSource();

        using (var output = new OutputFolder(folder))
        {
            // Every file of the new run is written, and then Ctrl-C comes.
            ReplayReports.WriteRun(output, result, trace, "second run", cancel.Token);
            cancel.Cancel();
            Assert.Throws<OperationCanceledException>(() => output.Complete(cancel.Token));
        }

        Assert.Equal(earlier.Keys.Order(StringComparer.Ordinal), Directory.GetFileSystemEntries(folder).Order(StringComparer.Ordinal));
        Assert.All(earlier, file => Assert.True(file.Value.AsSpan().SequenceEqual(File.ReadAllBytes(file.Key)), $"{file.Key} changed"));
    }

    [Fact]
    public async Task A_run_that_cannot_write_one_of_its_files_writes_none_and_says_which()
    {
        var trace = SharedTraces.LoadPhilly();
        var result = await ReplayRun.InProcessAsync(trace, Options());
        var folder = _folder.Combine("out");
        var earlier = ReplayReports.WriteRun(folder, result, trace, "in-process").ToDictionary(path => path, File.ReadAllBytes);
        var report = Path.Combine(folder, "report.html");
        File.Delete(report);
        Directory.CreateDirectory(report); // something in the way of the last file written

        using (var output = new OutputFolder(folder))
        {
            ReplayReports.WriteRun(output, result, trace, "second run");
            var refused = Assert.Throws<IOException>(() => output.Complete());
            Assert.Contains("report.html is a folder", refused.Message, StringComparison.Ordinal);
        }

        Assert.Equal(earlier.Keys.Order(StringComparer.Ordinal), Directory.GetFileSystemEntries(folder).Order(StringComparer.Ordinal));
        Assert.All(earlier.Where(file => file.Key != report), file => Assert.True(file.Value.AsSpan().SequenceEqual(File.ReadAllBytes(file.Key)), $"{file.Key} changed"));
    }

    [Theory]
    [InlineData("run", "--verdict-log")]
    [InlineData("sweep", "--scales", "0.1,1")]
    [InlineData("what-if", "--sybil", "2")]
    public async Task Ctrl_C_exits_130_with_one_line_and_writes_no_output(params string[] command)
    {
        var output = _folder.Combine("out");
        var errors = new StringWriter();
        using var interrupt = new CancellationTokenSource();
        interrupt.Cancel();

        var exitCode = await ReplayApp.Create(errors, interrupt.Token).RunAsync([.. command, "--trace", SharedTraces.Philly, "--out", output, "--no-progress"], interrupt.Token);

        Assert.Equal(130, exitCode);
        Assert.Equal("interrupted: the run stopped before writing its outputs; no file was written or changed\n", errors.ToString().ReplaceLineEndings("\n"));
        Assert.False(Directory.Exists(output), "an interrupted run made its output folder");
    }

    [Fact]
    public async Task A_run_without_the_verdict_log_removes_an_earlier_runs_log_from_its_folder()
    {
        var output = _folder.Combine("out");
        async Task<int> Run(params string[] extra) =>
            await ReplayApp.Create(TextWriter.Null, CancellationToken.None).RunAsync(["run", "--trace", SharedTraces.Philly, "--out", output, "--no-progress", .. extra], CancellationToken.None);

        Assert.Equal(0, await Run("--verdict-log"));
        Assert.True(File.Exists(Path.Combine(output, "verdicts.csv")));
        Assert.Equal(0, await Run());

        // Its verdicts were not this run's: left beside this run's summary, they would pass for them.
        Assert.False(File.Exists(Path.Combine(output, "verdicts.csv")), "the earlier run's verdict log is still there");
        Assert.True(File.Exists(Path.Combine(output, "summary.json")));
    }

    [Fact]
    public async Task A_run_removes_the_temporary_files_a_killed_run_left_in_its_folder_and_nothing_else()
    {
        var trace = _folder.WriteLines("one.csv", "account,start,end,accelerator,count", "alice,1700000000,1700003600,H100-SXM,1");
        var output = _folder.Combine("out");
        Directory.CreateDirectory(output);
        string Temporary(string name) => Path.Combine(output, $".{name}.{Guid.NewGuid():N}.tmp");
        // What runs killed while writing (kill -9, a second Ctrl-C) left: the tool's files under their temporary names.
        string[] leftovers = [Temporary("summary.json"), Temporary("verdicts.csv"), Temporary("sweep.html")];
        // Not the tool's: a name it never writes, or not its temporary-name pattern.
        string[] others =
        [
            Temporary("notes.txt"), Path.Combine(output, ".summary.json.tmp"), Path.Combine(output, $".summary.json.{Guid.NewGuid():N}.tmp.bak"),
            Path.Combine(output, $"summary.json.{Guid.NewGuid():N}.tmp"), Path.Combine(output, $".summary.json.{Guid.NewGuid().ToString("N").ToUpperInvariant()}.tmp"),
            Path.Combine(output, "my-notes.md"),
        ];
        var killedAt = DateTime.UtcNow - OutputFolder.LeftoverAge - TimeSpan.FromMinutes(1);
        foreach (var file in leftovers.Concat(others))
        {
            File.WriteAllText(file, "left here");
            File.SetLastWriteTimeUtc(file, killedAt);
        }

        // One that another run, still going, is writing into the same folder: not a leftover.
        var writing = Temporary("accounts.csv");
        using var other = new StreamWriter(writing);
        other.Write("being written");
        other.Flush();
        File.SetLastWriteTimeUtc(writing, killedAt);

        // One another run has just closed, about to move it into place: not a leftover either.
        var closing = Temporary("verdicts.csv");
        File.WriteAllText(closing, "just written");

        var exitCode = await ReplayApp.Create(TextWriter.Null, CancellationToken.None).RunAsync(["run", "--trace", trace, "--out", output, "--no-progress"], CancellationToken.None);

        Assert.Equal(0, exitCode);
        Assert.All(leftovers, file => Assert.False(File.Exists(file), $"{Path.GetFileName(file)} is still there"));
        Assert.All(others.Append(writing).Append(closing), file => Assert.True(File.Exists(file), $"{Path.GetFileName(file)} was removed"));
        Assert.True(File.Exists(Path.Combine(output, "summary.json")));
    }

    [Fact]
    public async Task SIGTERM_stops_a_run_like_Ctrl_C_and_exits_143()
    {
        // A real process and a real signal: a batch scheduler's time limit or `kill` ends a run this way.
        var trace = _folder.Combine("long.csv");
        var random = new Random(3);
        using (var writer = new StreamWriter(trace))
        {
            writer.WriteLine("account,start,end,accelerator,count");
            long start = 1_700_000_000;
            for (var i = 0; i < 600_000; i++)
            {
                start += random.Next(0, 13);
                writer.WriteLine($"acct-{random.Next(10_000)},{start},{start + 60 + random.Next(20_000)},H100-SXM,{1 + random.Next(8)}");
            }
        }

        var output = _folder.Combine("out");
        var cli = Path.Combine(AppContext.BaseDirectory, "oversight-replay.dll");
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("dotnet", [cli, "run", "--trace", trace, "--out", output, "--no-progress"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var stdout = process.StandardOutput.ReadToEndAsync();

        // Signalled once the trace is read (the command says so on stderr), so that it lands while
        // the jobs are replayed: the replay itself, not only the reading, must stop.
        while (await process.StandardError.ReadLineAsync() is { } line && !line.Contains(" jobs", StringComparison.Ordinal))
        {
        }

        var errors = process.StandardError.ReadToEndAsync();
        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));

        Assert.True(process.ExitCode == 143, $"exit code {process.ExitCode}; stderr: {await errors}; stdout: {await stdout}");
        Assert.Contains("interrupted: the run stopped before writing its outputs", await errors, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output), "an interrupted run made its output folder");
    }

    [Fact]
    public async Task A_live_run_cancelled_while_a_call_waits_for_the_deployment_stops_that_call()
    {
        var options = Options() with { Behaviour = new UserBehaviour() };
        var job = new TraceJob("alice", 1_700_000_000, 1_700_003_600, "H100-SXM", 1, null, null, new TraceLocation("test", 2));
        var trace = TestTraces.Of([job]);
        var deployment = new DeploymentThatNeverDecides(options.Policy);
        var target = LiveTarget.SingleAddress(new Uri("http://deployment.test"), (_, _, _) => "token", null, null, deployment);
        // The connection's token is never cancelled: only the run's may stop the call.
        var backend = await LiveBackend.ConnectAsync(target, options, job.Start, setPolicy: false);
        using var cancel = new CancellationTokenSource();

        var run = ReplayRun.RunAsync(trace, options, backend, cancel.Token);
        await deployment.AuthorizeWaiting.Task.WaitAsync(TimeSpan.FromSeconds(30));
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_deployment_answering_DEADLINE_EXCEEDED_fails_the_live_run_with_its_answer_not_as_an_interruption()
    {
        var options = Options() with { Behaviour = new UserBehaviour() };
        var job = new TraceJob("alice", 1_700_000_000, 1_700_003_600, "H100-SXM", 1, null, null, new TraceLocation("test", 2));
        var trace = TestTraces.Of([job]);
        var deployment = new DeploymentThatNeverDecides(options.Policy, authorizeAnswer: Grpc.Core.StatusCode.DeadlineExceeded);
        var target = LiveTarget.SingleAddress(new Uri("http://deployment.test"), (_, _, _) => "token", null, null, deployment);
        var backend = await LiveBackend.ConnectAsync(target, options, job.Start, setPolicy: false);

        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => ReplayRun.RunAsync(trace, options, backend).WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(Grpc.Core.StatusCode.DeadlineExceeded, refused.StatusCode);
    }


    /// <summary>
    /// Just enough of a deployment, in memory, for the live backend to connect and open an account
    /// (a simulated clock, the replay's policy, KYC on its version); every other call answers with
    /// an empty message at once, except Authorize, which waits until the client cancels it (or, given
    /// <paramref name="authorizeAnswer"/>, answers with that status at once).
    /// </summary>
    private sealed class DeploymentThatNeverDecides(PolicyDocument policy, Grpc.Core.StatusCode? authorizeAnswer = null) : HttpMessageHandler
    {
        public TaskCompletionSource AuthorizeWaiting { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            await request.Content!.ReadAsByteArrayAsync(cancellationToken);
            var method = request.RequestUri!.AbsolutePath;
            if (method == "/oversight.enforcement.v1.ThresholdEnforcement/Authorize" && authorizeAnswer is { } status)
            {
                // Trailers only: no message, the status in the headers.
                var refusal = new HttpResponseMessage(HttpStatusCode.OK) { Version = HttpVersion.Version20, Content = new ByteArrayContent([]) };
                refusal.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
                refusal.Headers.Add("grpc-status", ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture));
                refusal.Headers.Add("grpc-message", "deadline exceeded");
                return refusal;
            }

            if (method == "/oversight.enforcement.v1.ThresholdEnforcement/Authorize")
            {
                AuthorizeWaiting.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            byte[] answer = method switch
            {
                "/oversight.common.v1.SimulationClock/GetClock" => new GetClockResponse { Now = Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch), Simulated = true }.ToByteArray(),
                "/oversight.enforcement.v1.ThresholdEnforcement/GetPolicy" => new GetPolicyResponse { Version = 1, Document = PolicyLoader.ToYaml(policy) }.ToByteArray(),
                "/oversight.kyc.v1.KycTiering/CreateAccount" => new CreateAccountResponse { Account = new Account { PolicyVersion = 1 } }.ToByteArray(),
                _ => [],
            };

            // One gRPC message (uncompressed, its length big-endian), then status OK in the trailers.
            var frame = new byte[5 + answer.Length];
            BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), answer.Length);
            answer.CopyTo(frame, 5);
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Version = HttpVersion.Version20, Content = new ByteArrayContent(frame) };
            response.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
            response.TrailingHeaders.Add("grpc-status", "0");
            return response;
        }
    }
}
