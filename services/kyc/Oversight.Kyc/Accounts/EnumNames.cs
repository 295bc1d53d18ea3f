using Oversight.Kyc.V1;
using PolicyRequirement = Oversight.Policy.RequirementKind;
using ProtoRequirement = Oversight.Common.V1.RequirementKind;

namespace Oversight.Kyc.Accounts;

/// <summary>
/// Enumerations as they travel on the bus and sit in the database: the proto value name
/// without its prefix ("STATED_PURPOSE", "RESEARCH"), as Oversight.Contracts specifies.
/// </summary>
public static class EnumNames
{
    private const string CategoryPrefix = "PURPOSE_CATEGORY_";
    private const string RequirementPrefix = "REQUIREMENT_KIND_";

    public static string Name(PurposeCategory category) =>
        PurposeCategory.Descriptor.FindValueByNumber((int)category).Name[CategoryPrefix.Length..];

    public static PurposeCategory ParseCategory(string? name) =>
        name is not null && PurposeCategory.Descriptor.FindValueByName(CategoryPrefix + name) is { } value
            ? (PurposeCategory)value.Number
            : PurposeCategory.Unspecified;

    /// <summary>The documented categories, for error messages.</summary>
    public static IEnumerable<string> CategoryNames =>
        PurposeCategory.Descriptor.Values.Where(v => v.Number != 0).Select(v => v.Name[CategoryPrefix.Length..]);

    public static string Name(PolicyRequirement requirement) =>
        ProtoRequirement.Descriptor.FindValueByNumber((int)requirement).Name[RequirementPrefix.Length..];

    public static PolicyRequirement ParseRequirement(string? name) =>
        name is not null && ProtoRequirement.Descriptor.FindValueByName(RequirementPrefix + name) is { } value
            ? (PolicyRequirement)value.Number
            : PolicyRequirement.Unspecified;
}
