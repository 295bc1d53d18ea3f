namespace Oversight.Hosting;

/// <summary>
/// Keeps a data folder to one running host. The embedded default keeps counters and holds in
/// memory beside its SQLite files: a second host on the same folder would count usage apart from
/// the first (each admitting up to the limits on its own) and overwrite its holds file.
/// </summary>
public sealed class DataFolderLock : IDisposable
{
    private const string FileName = ".oversight.lock";

    private readonly FileStream _file;

    private DataFolderLock(FileStream file) => _file = file;

    /// <summary>Takes the folder (creating it), or returns null when another process holds it.</summary>
    public static DataFolderLock? TryAcquire(string directory)
    {
        SecretFile.CreatePrivateDirectory(directory);
        try
        {
            // FileShare.None is an exclusive lock on the file for as long as it is open (flock on
            // Linux and macOS): released by the system when the process ends, however it ends.
            return new DataFolderLock(new FileStream(Path.Combine(directory, FileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException)
        {
            return null;
        }
    }

    public void Dispose() => _file.Dispose();
}
