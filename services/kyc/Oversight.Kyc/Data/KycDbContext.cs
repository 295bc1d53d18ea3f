using Microsoft.EntityFrameworkCore;
using Oversight.Hosting.Outbox;

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
        });
        model.Entity<TierChangeRecord>(change =>
        {
            change.ToTable("tier_changes");
            change.HasIndex(c => new { c.MarketplaceId, c.AccountId });
        });
        model.Entity<AccountKeyRecord>(key =>
        {
            key.ToTable("account_keys");
            key.HasKey(k => new { k.MarketplaceId, k.AccountId });
        });
        model.Entity<StatedPurposeRecord>(purpose =>
        {
            purpose.ToTable("stated_purposes");
            purpose.HasIndex(p => new { p.MarketplaceId, p.AccountId });
        });
        model.Entity<VerificationRecord>(verification =>
        {
            verification.ToTable("verifications");
            verification.HasIndex(v => v.SessionRef).IsUnique();
            verification.HasIndex(v => new { v.MarketplaceId, v.AccountId });
            verification.HasIndex(v => new { v.MarketplaceId, v.BlindIndex });
        });
        model.Entity<ProviderEventRecord>(providerEvent =>
        {
            providerEvent.ToTable("provider_events");
            providerEvent.HasKey(e => new { e.Provider, e.EventId });
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
        model.AddOutbox();
    }
}
