using System.Runtime.InteropServices;
using Oversight.Replay.Cli;
using Spectre.Console;

// oversight-replay: real usage traces through the enforcement policy core (docs/replay.md).

// Help, tables and messages on stdout: readable in a file or a log too (the help writes to AnsiConsole.Console).
Console2.WideWhenRedirected(AnsiConsole.Console, Console.IsOutputRedirected);

// The first Ctrl-C cancels the command's token: the run stops at its next step, writes nothing and
// exits with 130 (ReplayApp). Another one a second or more later ends the process at once (the
// handler leaves it alone). One sooner is the same interruption delivered twice: `timeout -s INT`,
// for one, signals the process and then its process group.
var interrupt = new CancellationTokenSource();
long? interruptedAt = null;
Console.CancelKeyPress += (_, e) =>
{
    var now = Environment.TickCount64;
    interruptedAt ??= now;
    if (now - interruptedAt < 1000)
    {
        e.Cancel = true;
        interrupt.Cancel();
    }
};
// SIGTERM (a batch scheduler's time limit, `kill`, a container stopping) stops the run the same way,
// exiting with 143 as a process ended by SIGTERM would; the sender's grace period covers the clean-up.
var terminated = false;
using var termination = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    terminated = true;
    interrupt.Cancel();
});
var exitCode = await ReplayApp.Create(Console.Error, interrupt.Token).RunAsync(args, interrupt.Token);
return terminated && exitCode == ReplayApp.InterruptedExitCode ? 143 : exitCode;
