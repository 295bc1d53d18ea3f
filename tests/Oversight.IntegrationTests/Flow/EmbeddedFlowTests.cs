using Grpc.Net.Client;
using Oversight.Hosting.Auth;
using Oversight.IntegrationTests.Embedded;
using Xunit;
using Xunit.Abstractions;

namespace Oversight.IntegrationTests.Flow;

public sealed class EmbeddedFlowTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Flow_OnTheEmbeddedDefault_StepsUpFromAnonymousToIdentityVerified()
    {
        await using var host = await EmbeddedProcess.StartAsync(new Dictionary<string, string>
        {
            ["Oversight__Kyc__IdentityProviders__simulated__Secrets__0__Id"] = Deployment.IdentitySecretId,
            ["Oversight__Kyc__IdentityProviders__simulated__Secrets__0__Secret"] = Deployment.IdentitySecret,
        });
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{host.GrpcPort}");
        // The key the program's `token` command signs with, read from its data folder.
        var key = DevelopmentSigningKey.LoadOrCreate(host.DataDirectory);
        var target = new FlowTarget(channel, channel, channel, (role, marketplace, provider) =>
            key.CreateToken("oversight", role, marketplace, provider, $"test-{role}", TimeSpan.FromHours(1), DateTimeOffset.UtcNow));
        var flow = new MissionFlow(target, "demo", Deployment.IdentitySecretId, Deployment.IdentitySecret, output.WriteLine);

        try
        {
            await flow.RunAsync();
        }
        finally
        {
            output.WriteLine("--- the embedded program's output ---");
            output.WriteLine(host.Output);
        }
    }
}
