using Oversight.Enforcement;
using Oversight.Hosting;
using Oversight.Hosting.Bus;
using Oversight.Hosting.Data;

// `Oversight.Enforcement.Host migrate` applies this service's database migrations and exits.
if (HostUsage.Asked(args))
{
    Console.WriteLine(HostUsage.For("Oversight.Enforcement.Host", "the threshold enforcement service"));
    return 0;
}

if (args is [MigrateCommand.Name, ..])
{
    return await MigrateCommand.RunAsync(args[1..], EnforcementExtensions.Database);
}

var builder = WebApplication.CreateBuilder(args);
builder.AddOversightDefaults();
builder.AddEnforcement();
builder.AddOversightBus();

var app = builder.Build();
app.MapOversightDefaults();
app.MapEnforcement();
app.Run();
return 0;

namespace Oversight.Enforcement.Host
{
    /// <summary>Names this host's assembly for WebApplicationFactory in tests.</summary>
    public sealed class EnforcementHost;
}
