using Microsoft.EntityFrameworkCore;
using Oversight.Attestation.Log;
using Oversight.Hosting.Outbox;

namespace Oversight.Attestation.Data;

public sealed class AttestationDbContext(DbContextOptions<AttestationDbContext> options) : DbContext(options)
{
    public DbSet<ProviderRecord> Providers => Set<ProviderRecord>();
    public DbSet<ProviderKeyRecord> ProviderKeys => Set<ProviderKeyRecord>();
    public DbSet<LedgerEntry> Ledger => Set<LedgerEntry>();
    public DbSet<LogStateRecord> LogState => Set<LogStateRecord>();
    public DbSet<LogNodeRecord> LogNodes => Set<LogNodeRecord>();
    public DbSet<ReviewItemRecord> ReviewItems => Set<ReviewItemRecord>();
    public DbSet<OutboxMessage> Outbox => Set<OutboxMessage>();
    public DbSet<ProcessedMessage> ProcessedMessages => Set<ProcessedMessage>();

    protected override void OnModelCreating(ModelBuilder model)
    {
        model.Entity<ProviderRecord>(provider =>
        {
            provider.ToTable("providers");
            provider.HasKey(p => new { p.MarketplaceId, p.ProviderId });
        });
        model.Entity<ProviderKeyRecord>(key =>
        {
            key.ToTable("provider_keys");
            key.HasKey(k => new { k.MarketplaceId, k.ProviderId, k.KeyId });
        });
        model.Entity<LedgerEntry>(ledger =>
        {
            ledger.ToTable("ledger");
            ledger.HasKey(e => e.Position);
            // Assigned under the log_state lock (LeafIndex + 1), not by the database.
            ledger.Property(e => e.Position).ValueGeneratedNever();
            // Providers choose attestation ids, so an id is unique per provider only: another
            // provider (of this or another marketplace) using the same id must neither block nor
            // learn of this one. The id alone stays indexed for lookups without a provider.
            ledger.HasIndex(e => new { e.MarketplaceId, e.ProviderId, e.AttestationId }).IsUnique();
            ledger.HasIndex(e => e.AttestationId);
            ledger.HasIndex(e => e.LeafIndex).IsUnique();
            // Inclusion proofs by leaf hash.
            ledger.HasIndex(e => e.LeafHash);
            ledger.HasIndex(e => new { e.MarketplaceId, e.ProviderId, e.Sequence }).IsUnique();
            ledger.HasIndex(e => new { e.MarketplaceId, e.AccountId });
        });
        model.Entity<LogStateRecord>(state =>
        {
            state.ToTable("log_state");
            state.HasKey(s => s.Id);
            state.Property(s => s.Id).ValueGeneratedNever();
            state.HasData(new LogStateRecord { Id = 1, TreeSize = 0, RootHash = MerkleLog.EmptyRoot, Frontier = [], UpdatedAt = DateTimeOffset.UnixEpoch });
        });
        model.Entity<LogNodeRecord>(node =>
        {
            node.ToTable("log_nodes");
            node.HasKey(n => n.Id);
            node.Property(n => n.Id).ValueGeneratedNever();
        });
        model.Entity<ReviewItemRecord>(review =>
        {
            review.ToTable("review_items");
            review.HasIndex(r => r.MarketplaceId);
            review.HasIndex(r => r.AttestationId);
        });
        model.AddOutbox();
    }
}
