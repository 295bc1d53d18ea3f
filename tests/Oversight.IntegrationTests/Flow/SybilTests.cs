using Oversight.Common.V1;
using Oversight.Enforcement.V1;
using Oversight.Kyc.V1;
using Xunit;
using Xunit.Abstractions;

namespace Oversight.IntegrationTests.Flow;

/// <summary>Sybil-linked budgets (issue 6 item 6) across KYC, attestation and enforcement.</summary>
public sealed class SybilTests(ITestOutputHelper output)
{
    [Fact]
    public async Task LinkedAccounts_ShareTheAnonymousBudgetOfTheirCluster()
    {
        await using var deployment = await Deployment.StartAsync();
        var root = new MissionFlow(deployment.Target, deployment.Marketplace, Deployment.IdentitySecretId, Deployment.IdentitySecret, output.WriteLine);
        await root.RegisterAndCreateAsync(); // the oldest account becomes the cluster's root
        var other = await root.AnotherAccountAsync();
        await root.AttestAsync("lease-root", count: 2, seconds: 3600, flopUnits: 4_000_000);
        await other.AttestAsync("lease-other", count: 8, seconds: 3600, flopUnits: 15_000_000);
        await root.WaitForUsageAsync(4_000_000);
        await other.WaitForUsageAsync(15_000_000);

        // Alone, each account is well inside its own anonymous 24-hour budget of 20,000,000 units.
        Assert.Equal(Verdict.Allow, (await root.AuthorizeAsync("lease-before", count: 1, seconds: 3600)).Verdict);

        var linked = await deployment.Target.Kyc.LinkAccountsAsync(new LinkAccountsRequest
        {
            MarketplaceId = deployment.Marketplace,
            AccountIds = { root.AccountId, other.AccountId },
            Reason = "same payment instrument",
        }, deployment.Target.As("operator", deployment.Marketplace));
        Assert.Equal(root.AccountId, linked.ClusterRoot);
        output.WriteLine($"LinkAccounts {root.AccountId}, {other.AccountId} -> cluster root {linked.ClusterRoot}");

        // Enforcement moves both accounts to the root's counters, rebuilt from the ledger:
        // the anonymous budget is now the cluster's, 19,000,000 used of 20,000,000.
        await root.WaitForUsageAsync(19_000_000);
        await other.WaitForUsageAsync(19_000_000);

        foreach (var account in new[] { root, other })
        {
            var refused = await account.AuthorizeAsync($"lease-after-{account.AccountId}", count: 1, seconds: 3600);
            Assert.Equal(Verdict.RequireStatedPurpose, refused.Verdict);
            Assert.True(refused.DecidingWindow.SharedByCluster);
            Assert.Equal(19_000_000, refused.DecidingWindow.Usage);
        }

        // A new attestation of either member counts once, in the cluster's budget.
        await other.AttestAsync("lease-more", count: 1, seconds: 1800, flopUnits: 500_000);
        await root.WaitForUsageAsync(19_500_000);
    }

    [Fact]
    public async Task Linking_MovesTheHoldsOfRunningLeasesIntoTheClustersBudget()
    {
        await using var deployment = await Deployment.StartAsync();
        var root = new MissionFlow(deployment.Target, deployment.Marketplace, Deployment.IdentitySecretId, Deployment.IdentitySecret, output.WriteLine);
        await root.RegisterAndCreateAsync();
        var other = await root.AnotherAccountAsync();
        // Each account has a lease running (admitted, not attested yet).
        Assert.Equal(Verdict.Allow, (await root.AuthorizeAsync("running-root", count: 1, seconds: 3600, flopUnits: 1_000_000)).Verdict);
        Assert.Equal(Verdict.Allow, (await other.AuthorizeAsync("running-other", count: 1, seconds: 3600, flopUnits: 2_000_000)).Verdict);

        await deployment.Target.Kyc.LinkAccountsAsync(new LinkAccountsRequest
        {
            MarketplaceId = deployment.Marketplace,
            AccountIds = { root.AccountId, other.AccountId },
            Reason = "same payment instrument",
        }, deployment.Target.As("operator", deployment.Marketplace));

        // Both holds now count against the cluster's budget: none was dropped by the rebuild.
        for (var attempt = 0; attempt < 150 && await HeldAsync(deployment, root) != 3_000_000; attempt++)
        {
            await Task.Delay(200);
        }

        Assert.Equal(3_000_000, await HeldAsync(deployment, root));
        Assert.Equal(3_000_000, await HeldAsync(deployment, other));
        // Linked, the accounts share lease ids: one cannot ride on the other's reservation.
        var taken = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => other.AuthorizeAsync("running-root", count: 1, seconds: 3600, flopUnits: 1_000_000));
        Assert.Equal(Grpc.Core.StatusCode.AlreadyExists, taken.StatusCode);
        Assert.Contains("another account linked with this one", taken.Status.Detail, StringComparison.Ordinal);

        // The moved lease's final attestation counts once and releases its hold in the cluster.
        await other.AttestAsync("running-other", count: 1, seconds: 1800, flopUnits: 1_500_000);
        await root.WaitForUsageAsync(1_500_000);
        Assert.Equal(1_000_000, await HeldAsync(deployment, root));
    }

    private static async Task<long> HeldAsync(Deployment deployment, MissionFlow account)
    {
        var usage = await deployment.Target.Enforcement.GetUsageAsync(
            new GetUsageRequest { MarketplaceId = deployment.Marketplace, AccountId = account.AccountId }, deployment.Target.As("operator", deployment.Marketplace));
        return usage.Windows.First(w => w.Window == "24h" && w.Metric == Metric.FlopUnits && w.SharedByCluster).Held;
    }
}
