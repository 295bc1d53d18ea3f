namespace Oversight.Policy.Documents;

/// <summary>A policy document was refused. <see cref="Field"/> is the offending field's path.</summary>
public sealed class PolicyValidationException(string field, string message) : Exception(message)
{
    /// <summary>The path of the offending field, e.g. <c>ladder[1].limits.30d.flop_units</c>; empty for the whole document.</summary>
    public string Field { get; } = field;
}
