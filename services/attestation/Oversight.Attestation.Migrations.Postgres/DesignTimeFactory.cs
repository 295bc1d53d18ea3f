using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Oversight.Attestation.Data;

namespace Oversight.Attestation.Migrations.Postgres;

/// <summary>Lets `dotnet ef migrations add` build the context without a host or a server.</summary>
public sealed class DesignTimeFactory : IDesignTimeDbContextFactory<AttestationDbContext>
{
    public AttestationDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<AttestationDbContext>()
            .UseNpgsql("Host=localhost;Database=design_time", npgsql => npgsql.MigrationsAssembly(typeof(DesignTimeFactory).Assembly.GetName().Name))
            .Options);
}
