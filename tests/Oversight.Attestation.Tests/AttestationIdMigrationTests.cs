using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Oversight.Attestation.Data;
using Oversight.Testing;

namespace Oversight.Attestation.Tests;

/// <summary>
/// The migration that scopes attestation ids per provider, on a ledger the earlier version wrote:
/// both providers, each on a database of its own.
/// </summary>
public sealed class AttestationIdMigrationTests
{
    private const string PreviousMigration = "LogNodes";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Migration_KeepsEveryLedgerRowAsRecordedWhileIdsWereDeploymentUnique_ThenIdsAreUniquePerProvider(bool sqlite)
    {
        var directory = Directory.CreateTempSubdirectory("oversight-attestation-migration-");
        try
        {
            await using var db = await NewContextAsync(sqlite, directory.FullName);
            await db.GetService<IMigrator>().MigrateAsync(PreviousMigration);
            var earlier = new[] { Entry(1, "att-1", "prov-a"), Entry(2, "att-2", "prov-b") };
            foreach (var entry in earlier)
            {
                await InsertAsTheEarlierVersionAsync(db, entry);
            }

            await db.Database.MigrateAsync();

            Assert.Empty(await db.Database.GetPendingMigrationsAsync());
            var migrated = await db.Ledger.AsNoTracking().OrderBy(e => e.Position).ToListAsync();
            Assert.Equal(earlier.Select(Comparable), migrated.Select(Comparable));
            Assert.All(migrated, e => Assert.False(e.ProviderScopedId));

            // Another provider may now use an id already in the ledger; the same provider may not.
            db.Ledger.Add(Entry(3, "att-1", "prov-b", providerScopedId: true));
            await db.SaveChangesAsync();
            db.ChangeTracker.Clear();
            db.Ledger.Add(Entry(4, "att-1", "prov-a", providerScopedId: true));
            await Assert.ThrowsAsync<DbUpdateException>(() => db.SaveChangesAsync());
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            directory.Delete(recursive: true);
        }
    }

    private static async Task<AttestationDbContext> NewContextAsync(bool sqlite, string directory)
    {
        var options = new DbContextOptionsBuilder<AttestationDbContext>();
        if (sqlite)
        {
            options.UseSqlite($"Data Source={Path.Combine(directory, "attestation.db")}", o => o.MigrationsAssembly("Oversight.Attestation.Migrations.Sqlite"));
        }
        else
        {
            options.UseNpgsql(await TestServers.CreatePostgresDatabaseAsync("attestation"), o => o.MigrationsAssembly("Oversight.Attestation.Migrations.Postgres"));
        }

        return new AttestationDbContext(options.Options);
    }

    // The earlier schema has no ProviderScopedId column: insert every other mapped column.
    private static async Task InsertAsTheEarlierVersionAsync(AttestationDbContext db, LedgerEntry entry)
    {
        var columns = db.Model.FindEntityType(typeof(LedgerEntry))!.GetProperties()
            .Where(p => p.Name != nameof(LedgerEntry.ProviderScopedId))
            .ToList();
        var names = string.Join(", ", columns.Select(c => $"\"{c.GetColumnName()}\""));
        var placeholders = string.Join(", ", columns.Select((_, i) => $"{{{i}}}"));
        // Column names come from the model, values go as parameters.
        var sql = "INSERT INTO ledger (" + names + ") VALUES (" + placeholders + ")";
        await db.Database.ExecuteSqlRawAsync(sql, [.. columns.Select(c => c.PropertyInfo!.GetValue(entry)!)]);
    }

    private static LedgerEntry Entry(long position, string attestationId, string providerId, bool providerScopedId = false)
    {
        var at = new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero).AddHours(position);
        return new LedgerEntry
        {
            Position = position,
            AttestationId = attestationId,
            MarketplaceId = "mkt-1",
            ProviderId = providerId,
            LeaseId = "lease-" + position,
            AccountId = "acct-1",
            AcceleratorModel = "H100-SXM",
            AcceleratorCount = 1,
            IntervalStart = at.AddHours(-1),
            IntervalEnd = at,
            Final = true,
            FlopUnits = 1_000 * position,
            GpuSeconds = 3_600,
            Precision = "BF16",
            WorkloadCommitment = new string('a', 64),
            WorkloadClass = "TRAINING",
            SignedAt = at,
            Sequence = position,
            KeyId = "key-1",
            Signature = [(byte)position, 2, 3],
            CanonicalBytes = [(byte)position, 5, 6],
            Outcome = "ACCEPTED",
            ReasonCodes = "",
            AppraisalPolicyVersion = "appraisal-2026-11",
            ImpliedUtilisation = 0.25,
            SequenceGap = 0,
            LeafIndex = position - 1,
            LeafHash = [.. Enumerable.Repeat((byte)position, 32)],
            RecordedAt = at,
            ProviderScopedId = providerScopedId,
        };
    }

    private static string Comparable(LedgerEntry e) =>
        $"{e.Position} {e.AttestationId} {e.MarketplaceId} {e.ProviderId} {e.LeaseId} {e.AccountId} {e.FlopUnits} {e.Sequence} {e.LeafIndex} " +
        $"{e.IntervalEnd.ToUnixTimeSeconds()} {e.RecordedAt.ToUnixTimeSeconds()} {Convert.ToHexString(e.LeafHash)} {Convert.ToHexString(e.CanonicalBytes)} {Convert.ToHexString(e.Signature)}";
}
