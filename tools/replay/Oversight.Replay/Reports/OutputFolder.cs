using System.Text;

namespace Oversight.Replay.Reports;

/// <summary>
/// The files of one output folder, written so that a reader never finds a half-written one: each
/// is written under a hidden temporary name beside its own (<c>.summary.json.&lt;random&gt;.tmp</c>)
/// and <see cref="Complete"/> moves them into place at the end, one after another (each move is
/// atomic; the set is not), replacing an earlier run's.
/// Disposed before that (the run was interrupted or failed), it deletes what it wrote, and the
/// folder too when it made it and nothing else is in it: the folder is left as it was.
/// </summary>
public sealed class OutputFolder(string path) : IDisposable
{
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
        var temporary = System.IO.Path.Combine(Path, $".{name}.{Guid.NewGuid():N}.tmp");
        var writer = new StreamWriter(temporary, append: false, Utf8);
        _files.Add((temporary, final, writer));
        return writer;
    }

    /// <summary>
    /// Closes the files and moves them into place, in the order they were made, and returns their
    /// paths. Throws without moving any when <paramref name="cancellationToken"/> is cancelled: an
    /// interrupted run writes nothing.
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
        return _files.Select(f => f.Final).ToArray();
    }

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
