using Grpc.Core;
using MassTransit;
using Microsoft.Extensions.Logging;
using Oversight.Contracts;
using Oversight.Enforcement.Accounts;
using Oversight.Enforcement.Counters;
using Oversight.Policy.Counters;

namespace Oversight.Enforcement.Consumers;

/// <summary>
/// Keeps enforcement's copy of tiers, suspensions, clusters and erasures current from KYC's
/// events. Each event carries the account's sequence; an older or repeated one changes nothing,
/// so redelivery and reordering are harmless. AccountErased carries none: erasure is never
/// undone, so applying it again or late changes nothing either.
/// </summary>
public sealed class AccountEventsConsumer(AccountDirectory accounts, CounterRebuilder rebuilder, ICounterStore store, ILogger<AccountEventsConsumer> logger) :
    IConsumer<AccountCreated>,
    IConsumer<AccountTierChanged>,
    IConsumer<AccountSuspended>,
    IConsumer<AccountReinstated>,
    IConsumer<AccountsLinked>,
    IConsumer<AccountErased>
{
    public Task Consume(ConsumeContext<AccountCreated> context)
    {
        var m = context.Message;
        return accounts.ApplyAsync(new AccountState(m.MarketplaceId, m.AccountId, m.TierLevel, m.TierId, false, m.AccountId, m.Sequence), context.CancellationToken);
    }

    public async Task Consume(ConsumeContext<AccountTierChanged> context)
    {
        var m = context.Message;
        var known = await FindOrConfirmAsync(m.MarketplaceId, m.AccountId, m.Sequence, context.CancellationToken);
        if (known is null || known.Sequence < m.Sequence)
        {
            await accounts.ApplyAsync(
                new AccountState(m.MarketplaceId, m.AccountId, m.ToLevel, m.ToTierId, known?.Suspended ?? false, known?.ClusterRoot ?? m.AccountId, m.Sequence),
                context.CancellationToken);
        }
    }

    public Task Consume(ConsumeContext<AccountSuspended> context) =>
        SetSuspendedAsync(context.Message.MarketplaceId, context.Message.AccountId, true, context.Message.Sequence, context.CancellationToken);

    public Task Consume(ConsumeContext<AccountReinstated> context) =>
        SetSuspendedAsync(context.Message.MarketplaceId, context.Message.AccountId, false, context.Message.Sequence, context.CancellationToken);

    public async Task Consume(ConsumeContext<AccountsLinked> context)
    {
        var m = context.Message;
        foreach (var accountId in m.ClusterAccountIds)
        {
            // Make every member known here first (KYC's answer already names the new root).
            _ = await accounts.FindAsync(m.MarketplaceId, accountId, context.CancellationToken)
                ?? await accounts.ConfirmAsync(m.MarketplaceId, accountId, context.CancellationToken);
        }

        // An older cluster version than the one stored (a late event) changes nothing: the later
        // link moved this cluster's counters already.
        var change = await accounts.ApplyClusterAsync(m.MarketplaceId, m.ClusterRoot, [.. m.ClusterAccountIds], m.ClusterVersion, context.CancellationToken);
        if (change.Stale)
        {
            return;
        }

        // The directory commits before the counters move. A delivery that failed or crashed in
        // between (Redis, the ledger, the process) is retried as a repeat that moves no member:
        // the tags its former roots still have (their epoch is deleted first when they are
        // cleared) name what is left to move, so the repeat finishes the move.
        var formerRoots = new SortedSet<string>(change.FormerRoots, StringComparer.Ordinal);
        foreach (var member in m.ClusterAccountIds.Where(a => a != m.ClusterRoot))
        {
            if (await store.GetEpochAsync(CounterTag.For(m.MarketplaceId, member), context.CancellationToken) is not null)
            {
                formerRoots.Add(member);
            }
        }

        if (formerRoots.Count == 0 && await store.GetEpochAsync(CounterTag.For(m.MarketplaceId, m.ClusterRoot), context.CancellationToken) is not null)
        {
            return;
        }

        // The cluster's counters are rebuilt from the ledger under the root's hash tag, taking over
        // the holds of running leases; the tags its members left are cleared (their usage and
        // holds now live under the root's).
        await rebuilder.RebuildAsync(m.MarketplaceId, m.ClusterRoot, onlyIfMissing: false, context.CancellationToken, formerRoots);
        foreach (var former in formerRoots)
        {
            await store.ResetTagAsync(CounterTag.For(m.MarketplaceId, former), cancellationToken: context.CancellationToken);
        }
    }

    public async Task Consume(ConsumeContext<AccountErased> context)
    {
        var m = context.Message;
        var known = await accounts.FindAsync(m.MarketplaceId, m.AccountId, context.CancellationToken)
            ?? await accounts.ConfirmAsync(m.MarketplaceId, m.AccountId, context.CancellationToken);
        if (known is not null)
        {
            await accounts.ApplyAsync(known with { Erased = true }, context.CancellationToken);
        }
    }

    private async Task SetSuspendedAsync(string marketplaceId, string accountId, bool suspended, long sequence, CancellationToken cancellationToken)
    {
        var known = await FindOrConfirmAsync(marketplaceId, accountId, sequence, cancellationToken);
        if (known is not null && known.Sequence < sequence)
        {
            await accounts.ApplyAsync(known with { Suspended = suspended, Sequence = sequence }, cancellationToken);
        }
    }

    /// <summary>
    /// The account as stored, when the event at <paramref name="sequence"/> is the next change of
    /// it (or an old one); otherwise KYC's current answer, stored. A tier or suspension event tells
    /// only its own part of the account: applied over a copy that misses a change between (an
    /// event that waits for a retry, or arrives later), it would write that part back as it was
    /// before, and the late event, older than the stored sequence, would then be dropped (a
    /// suspension lost, a downgrade undone). KYC's answer holds every change up to its sequence.
    /// When KYC does not know the account, answers with an older sequence than the event's, or
    /// cannot answer now, the caller applies the event over what it has, as before: a suspension
    /// or a downgrade must not wait for KYC to come back (KYC moves an account's sequence for
    /// changes enforcement has no event for, so most events take this look-up).
    /// </summary>
    private async Task<AccountState?> FindOrConfirmAsync(string marketplaceId, string accountId, long sequence, CancellationToken cancellationToken)
    {
        var known = await accounts.FindAsync(marketplaceId, accountId, cancellationToken);
        if (known is not null && sequence <= known.Sequence + 1)
        {
            return known;
        }

        try
        {
            return await accounts.ConfirmAsync(marketplaceId, accountId, cancellationToken) ?? known;
        }
        catch (RpcException e) when (known is not null && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(e, "KYC could not confirm account {AccountId} of {MarketplaceId} ({Status}); applying its event at sequence {Sequence} over the stored copy",
                accountId, marketplaceId, e.StatusCode, sequence);
            return known;
        }
    }
}
