using System.Collections;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Oversight.IntegrationTests.Security;

/// <summary>
/// Sets one field of a request by its proto path (<c>attestation.accelerator_count</c>,
/// <c>inventory[0].count</c>), the same path a google.rpc.BadRequest violation names.
/// A null value clears the field (a missing timestamp or message).
/// </summary>
public static class ProtoPath
{
    public static void Set(IMessage root, string path, object? value)
    {
        var parts = path.Split('.');
        var current = root;
        for (var i = 0; i < parts.Length; i++)
        {
            var (name, index) = Parse(parts[i]);
            var field = current.Descriptor.FindFieldByName(name)
                ?? throw new ArgumentException($"{current.Descriptor.FullName} has no field '{name}' (path {path})");
            var last = i == parts.Length - 1;
            if (index is { } n)
            {
                var list = (IList)field.Accessor.GetValue(current);
                if (last)
                {
                    list[n] = Convert(field, value);
                }
                else
                {
                    current = (IMessage)list[n]!;
                }
            }
            else if (last)
            {
                if (value is null)
                {
                    field.Accessor.Clear(current);
                }
                else
                {
                    field.Accessor.SetValue(current, Convert(field, value));
                }
            }
            else
            {
                current = (IMessage)field.Accessor.GetValue(current);
            }
        }
    }

    /// <summary>The path without list indexes' brackets content, e.g. <c>inventory[0].count</c> → <c>count</c>: the field's own name.</summary>
    public static string LeafName(string path) => Parse(path.Split('.')[^1]).Name;

    private static (string Name, int? Index) Parse(string part)
    {
        var open = part.IndexOf('[', StringComparison.Ordinal);
        return open < 0 ? (part, null) : (part[..open], int.Parse(part[(open + 1)..^1], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static object? Convert(FieldDescriptor field, object? value) => field.FieldType switch
    {
        FieldType.Enum => Enum.ToObject(field.EnumType.ClrType, value!),
        FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => System.Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture),
        FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => System.Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture),
        FieldType.Bytes => value as ByteString ?? ByteString.CopyFrom((byte[])value!),
        _ => value,
    };
}
