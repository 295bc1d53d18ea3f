using Oversight.Attestation;
using Oversight.Hosting;
using Oversight.Hosting.Bus;

var builder = WebApplication.CreateBuilder(args);
builder.AddOversightDefaults();
builder.AddAttestation();
builder.AddOversightBus();

var app = builder.Build();
app.MapOversightDefaults();
app.MapAttestation();
app.Run();

namespace Oversight.Attestation.Host
{
    /// <summary>Names this host's assembly for WebApplicationFactory in tests.</summary>
    public sealed class AttestationHost;
}
