using Oversight.Enforcement;
using Oversight.Hosting;
using Oversight.Hosting.Bus;

var builder = WebApplication.CreateBuilder(args);
builder.AddOversightDefaults();
builder.AddEnforcement();
builder.AddOversightBus();

var app = builder.Build();
app.MapOversightDefaults();
app.MapEnforcement();
app.Run();

namespace Oversight.Enforcement.Host
{
    /// <summary>Names this host's assembly for WebApplicationFactory in tests.</summary>
    public sealed class EnforcementHost;
}
