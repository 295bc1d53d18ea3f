using System.Text;

namespace Oversight.Hosting;

/// <summary>
/// A development secret kept in a file of the data folder and made on first use (signing keys,
/// KYC's keys). Readable by its owner only, from the moment it exists: anyone who can read a
/// token-signing key can sign an admin's token.
/// </summary>
public static class SecretFile
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The file's text, or <paramref name="create"/>'s, written first when the file does not exist.</summary>
    public static string ReadOrCreate(string path, Func<string> create)
    {
        if (File.Exists(path))
        {
            return ReadOwnerOnly(path);
        }

        CreatePrivateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var text = create();
        // A temporary file, created owner-only, then moved into place: two hosts starting at once
        // never read half a secret, and the secret is never readable by others, even for a moment.
        var temporary = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnly;
        }

        using (var writer = new StreamWriter(temporary, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), options))
        {
            writer.Write(text);
        }

        try
        {
            File.Move(temporary, path, overwrite: false);
            return text;
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another host made it first: use theirs.
            File.Delete(temporary);
            return ReadOwnerOnly(path);
        }
    }

    /// <summary>
    /// Creates a folder readable by its owner only (the data folder: secrets, SQLite files with
    /// pseudonyms and encrypted purposes). A folder that exists is left as it is: its owner chose.
    /// </summary>
    public static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    // A file an earlier version wrote readable by everyone is narrowed to its owner on the next read.
    private static string ReadOwnerOnly(string path)
    {
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & ~OwnerOnly & ~UnixFileMode.UserExecute) != 0)
        {
            try
            {
                File.SetUnixFileMode(path, OwnerOnly);
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                // Not ours to change (another user's file, a read-only mount): reading it is still allowed.
            }
        }

        return File.ReadAllText(path);
    }
}
