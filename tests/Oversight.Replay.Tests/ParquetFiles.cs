using Parquet;
using Parquet.Schema;

namespace Oversight.Replay.Tests;

/// <summary>Small Parquet files for tests, written column by column with Parquet.Net so that each column's type is the test's choice.</summary>
internal static class ParquetFiles
{
    /// <summary>A column: its schema field and one value per row (string?[], long[], long?[], int[], double?[], DateTime[] or bool[]).</summary>
    public readonly record struct Column(DataField Field, Array Values);

    /// <summary>Writes the columns, each holding one value per row, in row groups of <paramref name="rowGroupSize"/> rows.</summary>
    public static async Task<string> WriteAsync(string path, int rowGroupSize, params Column[] columns)
    {
        var rows = columns[0].Values.Length;
        Assert.All(columns, c => Assert.Equal(rows, c.Values.Length));
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(columns.Select(c => c.Field)), stream);
        for (var start = 0; start < rows; start += rowGroupSize)
        {
            using var group = writer.CreateRowGroup();
            var length = Math.Min(rowGroupSize, rows - start);
            foreach (var column in columns)
            {
                await WriteSliceAsync(group, column, start, length);
            }
        }

        return path;
    }

    public static Column Text(string name, params string?[] values) => new(new DataField<string>(name), values);

    public static Column Int64(string name, params long[] values) => new(new DataField<long>(name), values);

    public static Column Int32(string name, params int[] values) => new(new DataField<int>(name), values);

    public static Column NullableDouble(string name, params double?[] values) => new(new DataField<double?>(name), values);

    public static Column Timestamps(string name, bool adjustedToUtc, params DateTime[] values) =>
        new(new DateTimeDataField(name, DateTimeFormat.Timestamp, adjustedToUtc, DateTimeTimeUnit.Micros), values);

    public static Column Booleans(string name, params bool[] values) => new(new DataField<bool>(name), values);

    private static Task WriteSliceAsync(ParquetRowGroupWriter group, Column column, int start, int length) => column.Values switch
    {
        string?[] v => group.WriteAsync(column.Field, v[start..(start + length)]),
        long[] v => group.WriteAsync(column.Field, new ReadOnlyMemory<long>(v, start, length)),
        int[] v => group.WriteAsync(column.Field, new ReadOnlyMemory<int>(v, start, length)),
        double?[] v => group.WriteAsync(column.Field, new ReadOnlyMemory<double?>(v, start, length)),
        DateTime[] v => group.WriteAsync(column.Field, new ReadOnlyMemory<DateTime>(v, start, length)),
        bool[] v => group.WriteAsync(column.Field, new ReadOnlyMemory<bool>(v, start, length)),
        _ => throw new ArgumentException($"no writer for {column.Values.GetType().Name}"),
    };
}
