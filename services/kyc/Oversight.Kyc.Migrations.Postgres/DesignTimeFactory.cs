using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Oversight.Kyc.Data;

namespace Oversight.Kyc.Migrations.Postgres;

/// <summary>Lets `dotnet ef migrations add` build the context without a host or a server.</summary>
public sealed class DesignTimeFactory : IDesignTimeDbContextFactory<KycDbContext>
{
    public KycDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<KycDbContext>()
            .UseNpgsql("Host=localhost;Database=design_time", npgsql => npgsql.MigrationsAssembly(typeof(DesignTimeFactory).Assembly.GetName().Name))
            .Options);
}
