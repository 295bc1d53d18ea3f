using System.Globalization;
using Parquet;
using Parquet.Schema;

namespace Oversight.Replay.Traces;

/// <summary>
/// The canonical columns of a Parquet file, read row by row with one row group in memory at a
/// time (Parquet stores a row group column by column), so memory follows the row group size, not
/// the file. Columns are found by name, ignoring case, as in the CSV header; other columns are not
/// read. A row's "line" is its 1-based number in the file, over all row groups; a column's number
/// is its place among the schema's top-level fields.
/// </summary>
internal sealed class ParquetTable : ICanonicalRow, IAsyncDisposable
{
    private static readonly (ValueKind[] Kinds, string Expected) TimeColumn =
        ([ValueKind.Integer, ValueKind.Number, ValueKind.Timestamp, ValueKind.Text], "a time: Unix seconds (an integer or floating-point column), a timestamp column, or dates as text");

    /// <summary>What each canonical column may hold, and how to say so when it holds something else.</summary>
    private static readonly Dictionary<string, (ValueKind[] Kinds, string Expected)> Accepted = new(StringComparer.OrdinalIgnoreCase)
    {
        ["account"] = ([ValueKind.Text, ValueKind.Integer], "text (a string or integer column)"),
        ["start"] = TimeColumn,
        ["end"] = TimeColumn,
        ["accelerator"] = ([ValueKind.Text], "text (a string column)"),
        ["count"] = ([ValueKind.Integer, ValueKind.Number], "whole numbers (an integer or floating-point column)"),
        ["flop"] = ([ValueKind.Integer, ValueKind.Number], "a number of FLOP (an integer, floating-point or decimal column)"),
        ["workload_class"] = ([ValueKind.Text], "text (a string column)"),
    };

    private readonly ParquetReader _reader;
    private readonly string _file;
    private readonly Dictionary<string, Column> _columns;
    private int _nextGroup;
    private long _groupStart;
    private int _groupRows;
    private int _row = -1;

    private ParquetTable(ParquetReader reader, string file, Dictionary<string, Column> columns)
    {
        _reader = reader;
        _file = file;
        _columns = columns;
    }

    private enum ValueKind
    {
        Text,
        Integer,
        Number,
        Timestamp,
    }

    /// <summary>Where the columns are named: the file as a whole.</summary>
    public TraceLocation Schema => new(_file, 0);

    public TraceLocation Location => new(_file, _groupStart + _row + 1);

    /// <exception cref="TraceFormatException">Not a Parquet file, or a canonical column of a type it cannot hold.</exception>
    public static async Task<ParquetTable> OpenAsync(string path)
    {
        ParquetReader reader;
        try
        {
            // Some writers store text as plain binary, without the UTF-8 annotation.
            reader = await ParquetReader.CreateAsync(path, new ParquetOptions { TreatByteArrayAsString = true });
        }
        catch (Exception e) when (e is IOException or ParquetException)
        {
            throw new TraceFormatException(new TraceLocation(path, 0), $"not a readable Parquet file: {e.Message}");
        }

        try
        {
            var columns = new Dictionary<string, Column>(StringComparer.OrdinalIgnoreCase);
            var fields = reader.Schema.Fields;
            for (var i = 0; i < fields.Count; i++)
            {
                if (Accepted.TryGetValue(fields[i].Name, out var accepted) && !columns.ContainsKey(fields[i].Name))
                {
                    var column = new Column(fields[i], $"{i + 1} ({fields[i].Name})");
                    if (column.Kind is not { } kind || !accepted.Kinds.Contains(kind))
                    {
                        throw new TraceFormatException(new TraceLocation(path, 0, column.Describe), $"the column holds {column.TypeName}; expected {accepted.Expected}");
                    }

                    columns.Add(fields[i].Name, column);
                }
            }

            return new ParquetTable(reader, path, columns);
        }
        catch
        {
            await reader.DisposeAsync();
            throw;
        }
    }

    public bool Has(string column) => _columns.ContainsKey(column);

    /// <summary>Moves to the next row, reading the next row group when this one is done.</summary>
    public async Task<bool> ReadAsync()
    {
        _row++;
        while (_row >= _groupRows)
        {
            if (_nextGroup == _reader.RowGroupCount)
            {
                return false;
            }

            await LoadGroupAsync(_nextGroup++);
        }

        return true;
    }

    private async Task LoadGroupAsync(int index)
    {
        using var group = _reader.OpenRowGroupReader(index);
        _groupStart += _groupRows;
        _groupRows = checked((int)group.RowCount);
        _row = 0;
        try
        {
            foreach (var column in _columns.Values)
            {
                await column.LoadAsync(group, _groupRows);
            }
        }
        catch (Exception e) when (e is IOException or ParquetException or InvalidDataException)
        {
            throw new TraceFormatException(new TraceLocation(_file, 0), $"row group {index + 1} cannot be read: {e.Message}");
        }
    }

    public TraceLocation At(string column) => Location with { Column = _columns.TryGetValue(column, out var c) ? c.Describe : column };

    public TraceFormatException Missing(string column) =>
        new(At(column), _columns.TryGetValue(column, out var c) && c.Texts?[_row] is not null ? "the value is empty" : "the value is null");

    public string? Text(string column) => Value(column) switch
    {
        null => null,
        { Texts: { } texts } => texts[_row]?.Trim() is { Length: > 0 } text ? text : null,
        { Integers: { } integers } => integers[_row]?.ToString(CultureInfo.InvariantCulture),
        _ => throw Unexpected(column),
    };

    public long? Integer(string column) => Value(column) switch
    {
        null => null,
        { Integers: { } integers } => integers[_row],
        { Numbers: { } numbers } => numbers[_row] switch
        {
            null => null,
            { } number when TraceNumbers.TryWhole(number, out var whole) => whole,
            { } number => throw new TraceFormatException(At(column), $"'{Print(number)}' is not a whole number", "not a whole number"),
        },
        _ => throw Unexpected(column),
    };

    public double? Number(string column) => Value(column) switch
    {
        null => null,
        { Integers: { } integers } => integers[_row],
        { Numbers: { } numbers } => numbers[_row] switch
        {
            { } number when !double.IsFinite(number) => throw new TraceFormatException(At(column), $"'{Print(number)}' is not a number", "not a number"),
            var number => number,
        },
        _ => throw Unexpected(column),
    };

    public long? Time(string column) => Value(column) switch
    {
        null => null,
        { Integers: { } integers } => integers[_row],
        { Numbers: { } numbers } => numbers[_row] switch
        {
            { } number when !double.IsFinite(number) => throw new TraceFormatException(At(column), TraceTime.NotATime(Print(number)), TraceTime.NotATimeKind),
            var number => number is null ? null : (long)Math.Floor(number.Value),
        },
        // A timestamp without a time zone (not adjusted to UTC) is read as UTC, as a CSV date without an offset is.
        { Timestamps: { } timestamps } => timestamps[_row] is { } time ? new DateTimeOffset(time.Ticks, TimeSpan.Zero).ToUnixTimeSeconds() : null,
        { Texts: { } texts } => texts[_row]?.Trim() switch
        {
            null or "" => null,
            var text => TraceTime.TryParse(text, out var seconds) ? seconds : throw new TraceFormatException(At(column), TraceTime.NotATime(text), TraceTime.NotATimeKind),
        },
        _ => throw Unexpected(column),
    };

    private Column? Value(string column) => _columns.GetValueOrDefault(column);

    // OpenAsync checked every column's type against Accepted: reaching here is a bug, not bad input.
    private static InvalidOperationException Unexpected(string column) => new($"column '{column}' was read as a kind the getter does not take");

    private static string Print(double number) => number.ToString("R", CultureInfo.InvariantCulture);

    public ValueTask DisposeAsync() => _reader.DisposeAsync();

    /// <summary>One canonical column: its field, and the current row group's values, in the one array its kind uses.</summary>
    private sealed class Column(Field schemaField, string describe)
    {
        private readonly DataField? _data = schemaField is DataField { IsArray: false } data ? data : null;

        /// <summary>Its number and name, as messages give them ("2 (start)").</summary>
        public string Describe { get; } = describe;

        /// <summary>Null for a type no canonical column takes (a list, a struct, a boolean, binary...).</summary>
        public ValueKind? Kind => _data is null ? null : KindOf(_data.ClrType);

        public string TypeName => schemaField switch
        {
            DataField { IsArray: true } => "lists",
            DataField data => data.ClrType == typeof(ReadOnlyMemory<char>) ? "String" : data.ClrType.Name,
            _ => $"a {schemaField.SchemaType.ToString().ToLowerInvariant()}",
        };

        public string?[]? Texts { get; private set; }

        public long?[]? Integers { get; private set; }

        public double?[]? Numbers { get; private set; }

        public DateTime?[]? Timestamps { get; private set; }

        private static ValueKind? KindOf(Type type) => type switch
        {
            _ when type == typeof(string) || type == typeof(ReadOnlyMemory<char>) => ValueKind.Text,
            _ when type == typeof(long) || type == typeof(int) || type == typeof(short) || type == typeof(sbyte)
                || type == typeof(uint) || type == typeof(ushort) || type == typeof(byte) => ValueKind.Integer,
            _ when type == typeof(double) || type == typeof(float) || type == typeof(decimal) => ValueKind.Number,
            _ when type == typeof(DateTime) => ValueKind.Timestamp,
            _ => null,
        };

        public async Task LoadAsync(ParquetRowGroupReader group, int rows)
        {
            var data = _data!;
            switch (Kind)
            {
                case ValueKind.Text:
                    Texts = new string?[rows];
                    await group.ReadAsync(data, Texts.AsMemory());
                    break;
                case ValueKind.Timestamp:
                    Timestamps = await ReadAsync<DateTime, DateTime>(group, data, rows, v => v);
                    break;
                case ValueKind.Integer:
                    Integers = data.ClrType switch
                    {
                        var t when t == typeof(long) => await ReadAsync<long, long>(group, data, rows, v => v),
                        var t when t == typeof(int) => await ReadAsync<int, long>(group, data, rows, v => v),
                        var t when t == typeof(short) => await ReadAsync<short, long>(group, data, rows, v => v),
                        var t when t == typeof(sbyte) => await ReadAsync<sbyte, long>(group, data, rows, v => v),
                        var t when t == typeof(uint) => await ReadAsync<uint, long>(group, data, rows, v => v),
                        var t when t == typeof(ushort) => await ReadAsync<ushort, long>(group, data, rows, v => v),
                        _ => await ReadAsync<byte, long>(group, data, rows, v => v),
                    };
                    break;
                default:
                    Numbers = data.ClrType switch
                    {
                        var t when t == typeof(double) => await ReadAsync<double, double>(group, data, rows, v => v),
                        var t when t == typeof(float) => await ReadAsync<float, double>(group, data, rows, v => v),
                        _ => await ReadAsync<decimal, double>(group, data, rows, v => (double)v),
                    };
                    break;
            }
        }

        private static async Task<TOut?[]> ReadAsync<TIn, TOut>(ParquetRowGroupReader group, DataField data, int rows, Func<TIn, TOut> convert)
            where TIn : struct
            where TOut : struct
        {
            var values = new TOut?[rows];
            if (data.IsNullable)
            {
                var read = new TIn?[rows];
                await group.ReadAsync<TIn>(data, read.AsMemory());
                for (var i = 0; i < rows; i++)
                {
                    values[i] = read[i] is { } value ? convert(value) : null;
                }
            }
            else
            {
                // Parquet.Net 6.1 reads a required column into a nullable buffer with stale definition
                // levels from its buffer pool (random nulls in large row groups), so it is read plain.
                var read = new TIn[rows];
                await group.ReadAsync<TIn>(data, read.AsMemory());
                for (var i = 0; i < rows; i++)
                {
                    values[i] = convert(read[i]);
                }
            }

            return values;
        }
    }
}
