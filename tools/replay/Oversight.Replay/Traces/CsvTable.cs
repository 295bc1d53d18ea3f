using System.Globalization;
using nietras.SeparatedValues;

namespace Oversight.Replay.Traces;

/// <summary>
/// A CSV file read row by row with Sep, whose getters turn a bad field into a
/// <see cref="TraceFormatException"/> naming file, line and column. Files without a header row
/// (Alibaba PAI 2020 ships its tables so) are read in their documented column order.
/// </summary>
internal sealed class CsvTable : IDisposable
{
    private readonly SepReader _reader;
    private readonly Dictionary<string, int> _columns;
    private readonly string _file;

    private CsvTable(string path, IReadOnlyList<string>? documentedColumns)
    {
        _file = path;
        // The header is read as an ordinary row, so that a headerless table is read the same way.
        _reader = Sep.Reader(o => o with { HasHeader = false, DisableColCountCheck = true, Unescape = true }).FromFile(path);
        if (!_reader.MoveNext())
        {
            throw new TraceFormatException(new TraceLocation(_file, 1), "the file is empty");
        }

        var first = Enumerable.Range(0, _reader.Current.ColCount).Select(i => _reader.Current[i].ToString().Trim()).ToArray();
        var hasHeader = documentedColumns is null || first.Contains(documentedColumns[0], StringComparer.OrdinalIgnoreCase);
        var names = hasHeader ? first : documentedColumns!;
        _columns = names.Select((name, index) => (name, index))
            .GroupBy(x => x.name, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First().index, StringComparer.OrdinalIgnoreCase);
        Header = [.. names];
        _hasHeader = hasHeader;
        _pendingFirst = !hasHeader;
    }

    private readonly bool _hasHeader;

    private bool _pendingFirst;

    // Sep (0.17) numbers the first record of a file as starting on line 2; it starts on line 1.
    private bool _onFirstRecord;

    /// <summary>The column names, from the header row or the documented order.</summary>
    public IReadOnlyList<string> Header { get; }

    /// <summary>1-based line of the current record's start.</summary>
    public long Line => _onFirstRecord ? 1 : _reader.Current.LineNumberFrom;

    public TraceLocation Location(string? column = null) => new(_file, Line, column is null ? null : Describe(column));

    public static CsvTable Open(string path, IReadOnlyList<string>? documentedColumns = null) => new(path, documentedColumns);

    /// <summary>Reads the first line only, to recognise a format.</summary>
    public static IReadOnlyList<string> ReadHeader(string path)
    {
        using var table = Open(path);
        return table.Header;
    }

    public bool Read()
    {
        if (_pendingFirst)
        {
            _pendingFirst = false;
            _onFirstRecord = true;
            return true;
        }

        _onFirstRecord = false;

        while (_reader.MoveNext())
        {
            if (_reader.Current.ColCount == 1 && _reader.Current[0].Span.Trim().IsEmpty)
            {
                continue; // a blank line
            }

            return true;
        }

        return false;
    }

    public bool Has(string column) => _columns.ContainsKey(column);

    /// <summary>
    /// Throws when the row has fewer or more fields than the header names (a field quoted with
    /// commas in it is one field): a field too many would otherwise be dropped unread, and the
    /// row's other values may be in the wrong columns.
    /// </summary>
    public void CheckWidth()
    {
        var count = _reader.Current.ColCount;
        if (count != Header.Count)
        {
            throw new TraceFormatException(Location(), _hasHeader
                ? $"the row has {Wording.Count(count, "field")}; the header has {Header.Count}"
                : $"the row has {Wording.Count(count, "field")}; the table has {Wording.Count(Header.Count, "column")}");
        }
    }

    /// <summary>The field trimmed, or null when the column is absent or the field empty.</summary>
    public string? Text(string column)
    {
        if (!_columns.TryGetValue(column, out var index) || index >= _reader.Current.ColCount)
        {
            return null;
        }

        var value = _reader.Current[index].ToString().Trim();
        return value.Length == 0 ? null : value;
    }

    public string Required(string column) => Text(column) ?? throw Empty(column);

    public TraceFormatException Empty(string column) => new(Location(column), "the field is empty");

    public long Integer(string column)
    {
        var text = Required(column);
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        // Some traces write whole numbers as "1.0".
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && TraceNumbers.TryWhole(number, out value))
        {
            return value;
        }

        throw new TraceFormatException(Location(column), $"'{text}' is not a whole number", "not a whole number");
    }

    public double Number(string column)
    {
        var text = Required(column);
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
            ? value
            : throw new TraceFormatException(Location(column), $"'{text}' is not a number", "not a number");
    }

    /// <summary>A time as Unix seconds: a number of seconds, or a date and time (UTC unless it names an offset).</summary>
    public long Time(string column)
    {
        var text = Required(column);
        return TraceTime.TryParse(text, out var seconds) ? seconds : throw new TraceFormatException(Location(column), TraceTime.NotATime(text), TraceTime.NotATimeKind);
    }

    private string Describe(string column) =>
        _columns.TryGetValue(column, out var index) ? $"{index + 1} ({column})" : column;

    public void Dispose() => _reader.Dispose();
}

/// <summary>Trace time stamps: Unix seconds (whole or fractional, rounded down) or ISO-like dates, UTC by default.</summary>
public static class TraceTime
{
    private static readonly string[] Formats = ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.FFFFFFF", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd"];

    public static bool TryParse(string text, out long unixSeconds)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
        {
            unixSeconds = (long)Math.Floor(number);
            return true;
        }

        if (DateTimeOffset.TryParseExact(text, Formats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed)
            || DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out parsed))
        {
            unixSeconds = parsed.ToUnixTimeSeconds();
            return true;
        }

        unixSeconds = 0;
        return false;
    }

    /// <summary>The reason given for a time that cannot be read.</summary>
    internal static string NotATime(string text) => $"'{text}' is neither Unix seconds nor a date and time such as 2024-11-15 16:57:50";

    internal const string NotATimeKind = "neither Unix seconds nor a date and time";

    public static string Format(long unixSeconds) =>
        DateTimeOffset.FromUnixTimeSeconds(unixSeconds).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}

/// <summary>Numbers as traces write them.</summary>
internal static class TraceNumbers
{
    /// <summary>A whole number written as a floating-point one ("1.0"), within the range a double holds exactly.</summary>
    public static bool TryWhole(double number, out long value)
    {
        var whole = number == Math.Floor(number) && Math.Abs(number) < 9e15;
        value = whole ? (long)number : 0;
        return whole;
    }
}
