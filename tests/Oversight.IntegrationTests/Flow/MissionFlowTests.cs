using Xunit;
using Xunit.Abstractions;

namespace Oversight.IntegrationTests.Flow;

public sealed class MissionFlowTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Flow_AcrossThreeHostsOnRealServers_StepsUpFromAnonymousToIdentityVerified()
    {
        await using var deployment = await Deployment.StartAsync();
        var flow = new MissionFlow(deployment.Target, deployment.Marketplace, Deployment.IdentitySecretId, Deployment.IdentitySecret, output.WriteLine);

        await flow.RunAsync();
    }
}
