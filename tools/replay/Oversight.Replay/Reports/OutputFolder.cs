using System.Text;
using System.Text.RegularExpressions;

namespace Oversight.Replay.Reports;

/// <summary>
/// The files of one output folder, written so that a reader never finds a half-written one: each
/// is written under a hidden temporary name beside its own (<c>.summary.json.&lt;random&gt;.tmp</c>)
/// and <see cref="Complete"/> moves them into place at the end, one after another (each move is
/// atomic; the set is not), replacing an earlier run's.
/// Disposed before that (the run was interrupted or failed), it deletes what it wrote, and the
/// folder too when it made it and nothing else is in it: the folder is left as it was.
/// A run killed while it writes (kill -9, a second Ctrl-C) cannot clean up: the next run into the
/// folder that completes removes the temporary files it left (see <see cref="Complete"/>).
/// </summary>
public sealed partial class OutputFolder(string path) : IDisposable
{
    /// <summary>
    /// The names of the files the tool writes (<see cref="ReplayReports"/>, and the command line's
    /// verdicts.csv): temporary files left for these, by a run killed while writing, are removed by
    /// the next run into the folder, whichever command it is.
    /// </summary>
    public static IReadOnlySet<string> ToolFiles { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "summary.json", "accounts.csv", "report.html", "policy.yaml", "verdicts.csv",
        "sweep.csv", "sweep.json", "sweep.html", "whatif.csv", "whatif.json", "whatif.html",
    };

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    private readonly List<(string Temporary, string Final, StreamWriter Writer)> _files = [];
    private readonly List<string> _dropped = [];
    private bool _created;
    private bool _completed;

    public string Path { get; } = path;

    /// <summary>Writes a whole file (UTF-8 without a byte order mark).</summary>
    public void Write(string name, string text) => CreateText(name).Write(text);

    /// <summary>
    /// A file an earlier run may have left that this run does not make (an option given then and
    /// not now): deleted when the others are moved into place, so that the folder holds one run's files.
    /// </summary>
    public void Drop(string name) => _dropped.Add(System.IO.Path.Combine(Path, name));

    /// <summary>A file written as the run goes (verdicts.csv grows with the trace); the folder closes it.</summary>
    public TextWriter CreateText(string name)
    {
        if (!Directory.Exists(Path))
        {
            Directory.CreateDirectory(Path);
            _created = true;
        }

        var final = System.IO.Path.Combine(Path, name);
        // Temporary() recognises the name: keep the two alike.
        var temporary = System.IO.Path.Combine(Path, $".{name}.{Guid.NewGuid():N}.tmp");
        var writer = new StreamWriter(temporary, append: false, Utf8);
        _files.Add((temporary, final, writer));
        return writer;
    }

    /// <summary>
    /// Closes the files and moves them into place, in the order they were made, and returns their
    /// paths. Throws without moving any when <paramref name="cancellationToken"/> is cancelled: an
    /// interrupted run writes nothing. Then removes the temporary files an earlier run killed
    /// while writing left in the folder (<see cref="RemoveLeftovers"/>).
    /// </summary>
    public IReadOnlyList<string> Complete(CancellationToken cancellationToken = default)
    {
        foreach (var file in _files)
        {
            file.Writer.Dispose();
        }

        cancellationToken.ThrowIfCancellationRequested();
        // What would stop a move is found before the first one: a run that cannot write all its
        // files writes none (rather than leaving new files beside an earlier run's).
        foreach (var file in _files.Where(f => Directory.Exists(f.Final)))
        {
            throw new IOException($"{file.Final} is a folder: the run cannot write its file there");
        }

        foreach (var file in _files)
        {
            File.Move(file.Temporary, file.Final, overwrite: true);
        }

        foreach (var stale in _dropped)
        {
            File.Delete(stale);
        }

        _completed = true;
        RemoveLeftovers();
        return _files.Select(f => f.Final).ToArray();
    }

    /// <summary>
    /// Deletes the files a run killed while writing left here: those named as this class names its
    /// temporary files (<c>.&lt;name&gt;.&lt;32 hex digits&gt;.tmp</c>) for one of <see cref="ToolFiles"/>
    /// or of this run's files, and last written more than <see cref="LeftoverAge"/> ago. Nothing else
    /// is touched, nor such a file another run is still writing into the same folder: that one is
    /// open (the system lets go of a killed process's files), or was just closed to be moved.
    /// </summary>
    private void RemoveLeftovers()
    {
        if (!Directory.Exists(Path))
        {
            return;
        }

        var names = ToolFiles.Concat(_files.Select(f => f.Final)).Concat(_dropped).Select(f => System.IO.Path.GetFileName(f)).ToHashSet(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(Path))
        {
            var match = Temporary().Match(System.IO.Path.GetFileName(file));
            if (!match.Success || !names.Contains(match.Groups["name"].Value) || DateTime.UtcNow - File.GetLastWriteTimeUtc(file) < LeftoverAge)
            {
                continue;
            }

            try
            {
                // Opened with no sharing, it is deleted once closed; a file another process has
                // open (a run writing it: .NET locks the files it opens) cannot be opened so.
                using var leftover = new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // In use, gone already, or not ours to delete: left as it is.
            }
        }
    }

    /// <summary>
    /// How old a temporary file must be to be taken for a killed run's: another run closes its files
    /// just before it moves them (no longer locked then), and a run writes its files within seconds.
    /// </summary>
    public static readonly TimeSpan LeftoverAge = TimeSpan.FromMinutes(10);

    /// <summary>A temporary name <see cref="CreateText"/> gives: a dot, the file's name, a GUID's 32 hex digits, .tmp.</summary>
    [GeneratedRegex(@"^\.(?<name>.+)\.[0-9a-f]{32}\.tmp$", RegexOptions.CultureInvariant)]
    private static partial Regex Temporary();

    public void Dispose()
    {
        if (_completed)
        {
            return;
        }

        foreach (var file in _files)
        {
            file.Writer.Dispose();
            File.Delete(file.Temporary);
        }

        if (_created && Directory.Exists(Path) && !Directory.EnumerateFileSystemEntries(Path).Any())
        {
            Directory.Delete(Path);
        }
    }
}
