using Oversight.Attestation;
using Oversight.Hosting;
using Oversight.Hosting.Bus;
using Oversight.Hosting.Data;

// `Oversight.Attestation.Host migrate` applies this service's database migrations and exits.
if (HostUsage.Asked(args))
{
    Console.WriteLine(HostUsage.For("Oversight.Attestation.Host", "the workload attestation service"));
    return 0;
}

if (args is [MigrateCommand.Name, ..])
{
    return await MigrateCommand.RunAsync(args[1..], AttestationExtensions.Database);
}

var builder = WebApplication.CreateBuilder(args);
builder.AddOversightDefaults();
builder.AddAttestation();
builder.AddOversightBus();

var app = builder.Build();
app.MapOversightDefaults();
app.MapAttestation();
app.Run();
return 0;

namespace Oversight.Attestation.Host
{
    /// <summary>Names this host's assembly for WebApplicationFactory in tests.</summary>
    public sealed class AttestationHost;
}
