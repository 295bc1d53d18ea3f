using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Oversight.Enforcement.Data;

namespace Oversight.Enforcement.Migrations.Sqlite;

/// <summary>Lets `dotnet ef migrations add` build the context without a host.</summary>
public sealed class DesignTimeFactory : IDesignTimeDbContextFactory<EnforcementDbContext>
{
    public EnforcementDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<EnforcementDbContext>()
            .UseSqlite("Data Source=design-time.db", sqlite => sqlite.MigrationsAssembly(typeof(DesignTimeFactory).Assembly.GetName().Name))
            .Options);
}
