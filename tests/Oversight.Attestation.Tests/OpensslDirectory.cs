using System.Diagnostics;

namespace Oversight.Attestation.Tests;

/// <summary>A temporary folder for files handed to the openssl command line, which shares no code with the service.</summary>
internal sealed class OpensslDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("oversight-openssl-").FullName;

    public string Write(string name, byte[] content)
    {
        var path = System.IO.Path.Combine(Path, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    /// <summary>Runs openssl; throws when it is missing (the test fails, it does not skip).</summary>
    public static async Task<(bool Ok, string Output)> Run(params string[] arguments)
    {
        var start = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode == 0, await stdout + await stderr);
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
