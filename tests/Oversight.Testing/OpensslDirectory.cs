namespace Oversight.Testing;

/// <summary>A temporary folder for files handed to the openssl command line, which shares no code with the services or the signing kit.</summary>
public sealed class OpensslDirectory : IDisposable
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
        var (code, output, error) = await Processes.RunAsync("openssl", arguments, System.IO.Path.GetTempPath());
        return (code == 0, output + error);
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
