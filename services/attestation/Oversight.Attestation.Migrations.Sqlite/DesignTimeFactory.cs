using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Oversight.Attestation.Data;

namespace Oversight.Attestation.Migrations.Sqlite;

/// <summary>Lets `dotnet ef migrations add` build the context without a host.</summary>
public sealed class DesignTimeFactory : IDesignTimeDbContextFactory<AttestationDbContext>
{
    public AttestationDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<AttestationDbContext>()
            .UseSqlite("Data Source=design-time.db", sqlite => sqlite.MigrationsAssembly(typeof(DesignTimeFactory).Assembly.GetName().Name))
            .Options);
}
