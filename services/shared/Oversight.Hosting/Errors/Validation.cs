using Google.Rpc;
using Grpc.Core;

namespace Oversight.Hosting;

/// <summary>
/// Builds INVALID_ARGUMENT errors that carry google.rpc.BadRequest field violations, so a
/// client in any language can show which field was wrong (STYLE.md, Protos).
/// </summary>
public sealed class Validation
{
    private readonly List<BadRequest.Types.FieldViolation> _violations = [];

    public bool HasErrors => _violations.Count > 0;

    public Validation Add(string field, string description)
    {
        _violations.Add(new BadRequest.Types.FieldViolation { Field = field, Description = description });
        return this;
    }

    /// <summary>Adds a violation when <paramref name="condition"/> is false.</summary>
    public Validation Check(bool condition, string field, string description) => condition ? this : Add(field, description);

    /// <summary>Checks an identifier: 1-128 characters of [A-Za-z0-9._:-] (ids end up in keys and logs).</summary>
    public Validation CheckId(string? value, string field, bool required = true)
    {
        if (string.IsNullOrEmpty(value))
        {
            return required ? Add(field, $"{field} is required.") : this;
        }

        return Check(IsId(value), field, $"{field} must be 1-128 characters of letters, digits, '.', '_', ':' or '-'.");
    }

    public static bool IsId(string value) =>
        value.Length is > 0 and <= 128 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-');

    public void ThrowIfInvalid()
    {
        if (HasErrors)
        {
            throw Build(_violations);
        }
    }

    public static RpcException Invalid(string field, string description) =>
        Build([new BadRequest.Types.FieldViolation { Field = field, Description = description }]);

    private static RpcException Build(IReadOnlyList<BadRequest.Types.FieldViolation> violations)
    {
        var message = string.Join(" ", violations.Select(v => $"{v.Field}: {v.Description}"));
        var badRequest = new BadRequest();
        badRequest.FieldViolations.AddRange(violations);
        var status = new Google.Rpc.Status
        {
            Code = (int)Code.InvalidArgument,
            Message = message,
            Details = { Google.Protobuf.WellKnownTypes.Any.Pack(badRequest) },
        };
        return status.ToRpcException();
    }
}
