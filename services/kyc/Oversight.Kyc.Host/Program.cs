using Oversight.Hosting;
using Oversight.Hosting.Bus;
using Oversight.Kyc;

var builder = WebApplication.CreateBuilder(args);
builder.AddOversightDefaults();
builder.AddKyc();
builder.AddOversightBus();

var app = builder.Build();
app.MapOversightDefaults();
app.MapKyc();
app.Run();

namespace Oversight.Kyc.Host
{
    /// <summary>Names this host's assembly for WebApplicationFactory in tests.</summary>
    public sealed class KycHost;
}
