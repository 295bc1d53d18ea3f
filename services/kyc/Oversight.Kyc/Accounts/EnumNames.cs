using Google.Protobuf.Reflection;
using Oversight.Common.V1;
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

    private static readonly EnumDescriptor Categories = KycReflection.Descriptor.EnumTypes.Single(e => e.Name == "PurposeCategory");
    private static readonly EnumDescriptor Requirements = CommonReflection.Descriptor.EnumTypes.Single(e => e.Name == "RequirementKind");

    public static string Name(PurposeCategory category) =>
        Categories.FindValueByNumber((int)category).Name[CategoryPrefix.Length..];

    public static PurposeCategory ParseCategory(string? name) =>
        name is not null && Categories.FindValueByName(CategoryPrefix + name) is { } value
            ? (PurposeCategory)value.Number
            : PurposeCategory.Unspecified;

    /// <summary>The documented categories, for error messages.</summary>
    public static IEnumerable<string> CategoryNames =>
        Categories.Values.Where(v => v.Number != 0).Select(v => v.Name[CategoryPrefix.Length..]);

    public static string Name(PolicyRequirement requirement) =>
        Requirements.FindValueByNumber((int)requirement).Name[RequirementPrefix.Length..];

    public static PolicyRequirement ParseRequirement(string? name) =>
        name is not null && Requirements.FindValueByName(RequirementPrefix + name) is { } value
            ? (PolicyRequirement)value.Number
            : PolicyRequirement.Unspecified;
}
