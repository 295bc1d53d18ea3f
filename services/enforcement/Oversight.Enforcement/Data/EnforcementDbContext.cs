using Microsoft.EntityFrameworkCore;
using Oversight.Hosting.Outbox;

namespace Oversight.Enforcement.Data;

public sealed class EnforcementDbContext(DbContextOptions<EnforcementDbContext> options) : DbContext(options)
{
    public DbSet<PolicyVersionRecord> PolicyVersions => Set<PolicyVersionRecord>();
    public DbSet<AccountCopyRecord> Accounts => Set<AccountCopyRecord>();
    public DbSet<ThresholdNoticeRecord> ThresholdNotices => Set<ThresholdNoticeRecord>();
    public DbSet<OutboxMessage> Outbox => Set<OutboxMessage>();
    public DbSet<ProcessedMessage> ProcessedMessages => Set<ProcessedMessage>();

    protected override void OnModelCreating(ModelBuilder model)
    {
        model.Entity<PolicyVersionRecord>(policy =>
        {
            policy.ToTable("policy_versions");
            policy.HasKey(p => p.Version);
            policy.Property(p => p.Version).ValueGeneratedNever();
        });
        model.Entity<AccountCopyRecord>(account =>
        {
            account.ToTable("accounts");
            account.HasKey(a => new { a.MarketplaceId, a.AccountId });
            account.HasIndex(a => new { a.MarketplaceId, a.ClusterRoot });
        });
        model.Entity<ThresholdNoticeRecord>(notice =>
        {
            notice.ToTable("threshold_notices");
            notice.HasKey(n => new { n.MarketplaceId, n.AccountId, n.TierLevel, n.Kind });
        });
        model.AddOutbox();
    }
}
