using System.Diagnostics;

namespace Oversight.Testing;

/// <summary>Runs a command to completion (node, npm, openssl, rabbitmqctl); throws when the program is missing, so a test fails rather than skips.</summary>
public static class Processes
{
    public static async Task<(int Code, string Output, string Error)> RunAsync(
        string file, IEnumerable<string> arguments, string workingDirectory, string? stdin = null, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        // Only a guard against a hung process: generous, because a loaded 2-core machine once took
        // the simulate command past 120 s.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(300));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} did not finish within 300 s");
        }

        return (process.ExitCode, await output, await error);
    }
}
