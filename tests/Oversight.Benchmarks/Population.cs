using System.Globalization;
using Oversight.Common.V1;
using Oversight.Enforcement.V1;

namespace Oversight.Benchmarks;

/// <summary>
/// The accounts and what each asks for, chosen so that verdicts are mixed under the default
/// policy (anonymous tier: 20,000,000 FLOP units a day, near-limit past 80%): by account index
/// modulo 20, 12 in 20 have room (ALLOW), 4 are preloaded to 16,500,000 units (ALLOW_NEAR_LIMIT),
/// 3 to their full budget (REQUIRE_STATED_PURPOSE, each confirmed with KYC), and 1 asks for more
/// than any tier allows (DENY, confirmed with KYC).
/// </summary>
internal sealed class Population
{
    public const long RequestUnits = 100_000;
    public const long DenyUnits = 200_000_000_000_000;

    /// <param name="allowOnly">Every account has room (the ALLOW path alone), for comparison.</param>
    public Population(int count, bool allowOnly = false) =>
        Accounts = Enumerable.Range(0, count).Select(i => (allowOnly ? 0 : i % 20) switch
        {
            < 12 => new BenchAccount($"acct-{i:D6}", "room", 0, RequestUnits),
            < 16 => new BenchAccount($"acct-{i:D6}", "near", 16_500_000, RequestUnits),
            < 19 => new BenchAccount($"acct-{i:D6}", "over", 20_000_000, RequestUnits),
            _ => new BenchAccount($"acct-{i:D6}", "huge", 0, DenyUnits),
        }).ToArray();

    public IReadOnlyList<BenchAccount> Accounts { get; }

    public string Describe() => string.Join(", ", Accounts.GroupBy(a => a.Kind).Select(g =>
        string.Create(CultureInfo.InvariantCulture, $"{g.Count()} {g.Key} (preloaded {g.First().PreloadedUnits:N0}, asking {g.First().RequestUnits:N0})")));

    public AuthorizeRequest Request(string marketplace, BenchAccount account, string leaseId) => new()
    {
        MarketplaceId = marketplace,
        AccountId = account.Id,
        LeaseId = leaseId,
        AcceleratorModel = "H100-SXM",
        AcceleratorCount = 1,
        DurationSeconds = 60,
        Precision = PrecisionClass.Bf16,
        FlopUnits = account.RequestUnits,
    };
}

internal sealed record BenchAccount(string Id, string Kind, long PreloadedUnits, long RequestUnits);
