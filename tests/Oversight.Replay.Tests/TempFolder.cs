namespace Oversight.Replay.Tests;

/// <summary>A fresh folder under the system temp folder for one test's small synthetic files; deleted afterwards.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "oversight-replay-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>Writes a file (UTF-8, no BOM, lines as given) and returns its full path.</summary>
    public string Write(string name, string text)
    {
        var path = Combine(name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Writes lines joined by '\n', with a final newline.</summary>
    public string WriteLines(string name, params string[] lines) => Write(name, string.Join('\n', lines) + "\n");

    public string Combine(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>
    /// What the replay says about a file of this folder given by its full path, as it names files
    /// by the path they were given: <paramref name="text"/>, which starts with the file's name, after the folder.
    /// </summary>
    public string About(string text) => Combine(text);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A process under test may still hold a file for a moment; the temp folder is the system's to clean.
        }
    }
}
