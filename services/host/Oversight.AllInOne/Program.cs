using Oversight.AllInOne;
using Oversight.Attestation;
using Oversight.Enforcement;
using Oversight.Hosting;
using Oversight.Hosting.Bus;
using Oversight.Hosting.Data;
using Oversight.Kyc;

// `oversight token --role operator --marketplace m1` prints a development token;
// `oversight migrate` applies the three services' database migrations and exits;
// anything else starts the all-in-one host.
if (HostUsage.Asked(args))
{
    Console.WriteLine(HostUsage.For("oversight", "KYC, attestation and enforcement in one process (the embedded default: SQLite, in-memory bus and counters)",
        "oversight token --role ROLE [--marketplace ID] ...   prints a development token (token --help)"));
    return 0;
}

if (args.Length > 0 && args[0] == "token")
{
    return TokenCommand.Run(args[1..]);
}

if (args is [MigrateCommand.Name, ..])
{
    return await MigrateCommand.RunAsync(args[1..], KycExtensions.Database, AttestationExtensions.Database, EnforcementExtensions.Database);
}

var builder = WebApplication.CreateBuilder(args);
var dataDirectory = Path.GetFullPath((builder.Configuration.GetSection(HostingOptions.Section).Get<HostingOptions>() ?? new HostingOptions()).DataDirectory);
using var dataFolder = DataFolderLock.TryAcquire(dataDirectory);
if (dataFolder is null)
{
    Console.Error.WriteLine($"error: the data folder {dataDirectory} is in use by another running Oversight host. "
        + "Stop that one, or give this one a folder of its own (Oversight__Hosting__DataDirectory) and other ports (Oversight__Hosting__GrpcPort, HealthPort).");
    return 1;
}

builder.AddOversightDefaults();
builder.AddKyc();
builder.AddAttestation();
builder.AddEnforcement();
builder.AddOversightBus();

var app = builder.Build();
app.MapOversightDefaults();
app.MapKyc();
app.MapAttestation();
app.MapEnforcement();

await app.StartAsync();
StartupBanner.Print(app);
await app.WaitForShutdownAsync();
return 0;
