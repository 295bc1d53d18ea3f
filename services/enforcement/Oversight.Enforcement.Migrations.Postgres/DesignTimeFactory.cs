using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Oversight.Enforcement.Data;

namespace Oversight.Enforcement.Migrations.Postgres;

/// <summary>Lets `dotnet ef migrations add` build the context without a host or a server.</summary>
public sealed class DesignTimeFactory : IDesignTimeDbContextFactory<EnforcementDbContext>
{
    public EnforcementDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<EnforcementDbContext>()
            .UseNpgsql("Host=localhost;Database=design_time", npgsql => npgsql.MigrationsAssembly(typeof(DesignTimeFactory).Assembly.GetName().Name))
            .Options);
}
