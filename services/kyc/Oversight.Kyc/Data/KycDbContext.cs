using Microsoft.EntityFrameworkCore;
using Oversight.Hosting.Outbox;
using Oversight.Kyc.Accounts;

namespace Oversight.Kyc.Data;

public sealed class KycDbContext(DbContextOptions<KycDbContext> options) : DbContext(options)
{
    public DbSet<AccountRecord> Accounts => Set<AccountRecord>();
    public DbSet<TierChangeRecord> TierChanges => Set<TierChangeRecord>();
    public DbSet<AccountKeyRecord> AccountKeys => Set<AccountKeyRecord>();
    public DbSet<StatedPurposeRecord> StatedPurposes => Set<StatedPurposeRecord>();
    public DbSet<VerificationRecord> Verifications => Set<VerificationRecord>();
    public DbSet<ProviderEventRecord> ProviderEvents => Set<ProviderEventRecord>();
    public DbSet<AuditEventRecord> AuditEvents => Set<AuditEventRecord>();
    public DbSet<PolicyCopyRecord> PolicyCopies => Set<PolicyCopyRecord>();
    public DbSet<AccountLinkRecord> AccountLinks => Set<AccountLinkRecord>();
    public DbSet<MarketplaceClusterStateRecord> ClusterStates => Set<MarketplaceClusterStateRecord>();
    public DbSet<OutboxMessage> Outbox => Set<OutboxMessage>();
    public DbSet<ProcessedMessage> ProcessedMessages => Set<ProcessedMessage>();

    protected override void OnModelCreating(ModelBuilder model)
    {
        model.Entity<AccountRecord>(account =>
        {
            account.ToTable("accounts");
            account.HasKey(a => new { a.MarketplaceId, a.AccountId });
            account.Property(a => a.MarketplaceId).HasMaxLength(128);
            account.Property(a => a.AccountId).HasMaxLength(128);
            account.Property(a => a.ClusterRoot).HasMaxLength(128);
            account.HasIndex(a => new { a.MarketplaceId, a.ClusterRoot });
            // The expiry sweep looks for tiers whose verification has run out.
            account.HasIndex(a => a.TierExpiresAt);
            // Every event carries the account's next Sequence: two concurrent changes of one
            // account must not both take the same number, so the second one retries.
            account.Property(a => a.Sequence).IsConcurrencyToken();
            account.HasMany(a => a.History).WithOne().HasForeignKey(c => new { c.MarketplaceId, c.AccountId });
        });
        model.Entity<TierChangeRecord>(change =>
        {
            change.ToTable("tier_changes");
            change.Property(c => c.MarketplaceId).HasMaxLength(128);
            change.Property(c => c.AccountId).HasMaxLength(128);
        });
        model.Entity<AccountKeyRecord>(key =>
        {
            key.ToTable("account_keys");
            key.HasKey(k => new { k.MarketplaceId, k.AccountId });
        });
        model.Entity<StatedPurposeRecord>(purpose =>
        {
            purpose.ToTable("stated_purposes");
            // One current statement per account: a restated purpose replaces it.
            purpose.HasIndex(p => new { p.MarketplaceId, p.AccountId }).IsUnique();
        });
        model.Entity<VerificationRecord>(verification =>
        {
            verification.ToTable("verifications");
            verification.HasIndex(v => v.SessionRef).IsUnique();
            verification.Property(v => v.SessionRef).HasMaxLength(128);
            verification.HasIndex(v => new { v.MarketplaceId, v.AccountId });
            verification.HasIndex(v => new { v.MarketplaceId, v.BlindIndex });
        });
        model.Entity<ProviderEventRecord>(providerEvent =>
        {
            providerEvent.ToTable("provider_events");
            providerEvent.HasKey(e => new { e.Provider, e.EventId });
            providerEvent.Property(e => e.Provider).HasMaxLength(64);
            providerEvent.Property(e => e.EventId).HasMaxLength(128);
        });
        model.Entity<AuditEventRecord>(audit =>
        {
            audit.ToTable("audit_events");
            audit.HasKey(a => a.Sequence);
            audit.HasIndex(a => new { a.MarketplaceId, a.AccountId });
        });
        model.Entity<PolicyCopyRecord>(policy =>
        {
            policy.ToTable("policy_copies");
            policy.HasKey(p => p.Version);
            policy.Property(p => p.Version).ValueGeneratedNever();
        });
        model.Entity<AccountLinkRecord>(link =>
        {
            link.ToTable("account_links");
            link.Property(l => l.MarketplaceId).HasMaxLength(128);
            link.Property(l => l.AccountId).HasMaxLength(128);
            link.Property(l => l.LinkedAccountId).HasMaxLength(128);
            link.Property(l => l.Basis).HasMaxLength(32);
            link.HasIndex(l => new { l.MarketplaceId, l.AccountId });
            link.HasIndex(l => new { l.MarketplaceId, l.LinkedAccountId });
        });
        model.Entity<MarketplaceClusterStateRecord>(state =>
        {
            state.ToTable("marketplace_cluster_states");
            state.HasKey(s => s.MarketplaceId);
            state.Property(s => s.MarketplaceId).HasMaxLength(128);
            state.Property(s => s.ClusterVersion).IsConcurrencyToken();
        });
        model.AddOutbox();
    }

    public override int SaveChanges(bool acceptAllChangesOnSuccess)
    {
        AdvanceSequenceOfChangedAccounts();
        return base.SaveChanges(acceptAllChangesOnSuccess);
    }

    public override Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        AdvanceSequenceOfChangedAccounts();
        return base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
    }

    /// <summary>
    /// A changed account row is a changed GetAccount answer, so its Sequence moves (docs/kyc.md),
    /// also for changes that publish no event (next step, restated purpose category, a later
    /// expiry). Moving it also puts every change through the concurrency check: a writer that read
    /// the account before another's commit retries instead of overwriting what it did not see.
    /// A change that publishes an event has already taken its number (AccountChanges.NextSequence).
    /// </summary>
    private void AdvanceSequenceOfChangedAccounts()
    {
        foreach (var entry in ChangeTracker.Entries<AccountRecord>())
        {
            if (entry.State == EntityState.Modified && !entry.Property(a => a.Sequence).IsModified)
            {
                AccountChanges.NextSequence(entry.Entity);
            }
        }
    }
}
