using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Oversight.Kyc.Data;

namespace Oversight.Kyc.Migrations.Sqlite;

/// <summary>Lets `dotnet ef migrations add` build the context without a host.</summary>
public sealed class DesignTimeFactory : IDesignTimeDbContextFactory<KycDbContext>
{
    public KycDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<KycDbContext>()
            .UseSqlite("Data Source=design-time.db", sqlite => sqlite.MigrationsAssembly(typeof(DesignTimeFactory).Assembly.GetName().Name))
            .Options);
}
