using Oversight.Hosting;
using Oversight.Hosting.Bus;
using Oversight.Hosting.Data;
using Oversight.Kyc;

// `Oversight.Kyc.Host migrate` applies this service's database migrations and exits.
if (HostUsage.Asked(args))
{
    Console.WriteLine(HostUsage.For("Oversight.Kyc.Host", "the KYC tiering service"));
    return 0;
}

if (args is [MigrateCommand.Name, ..])
{
    return await MigrateCommand.RunAsync(args[1..], KycExtensions.Database);
}

var builder = WebApplication.CreateBuilder(args);
builder.AddOversightDefaults();
builder.AddKyc();
builder.AddOversightBus();

var app = builder.Build();
app.MapOversightDefaults();
app.MapKyc();
app.Run();
return 0;

namespace Oversight.Kyc.Host
{
    /// <summary>Names this host's assembly for WebApplicationFactory in tests.</summary>
    public sealed class KycHost;
}
