using System.Security.Cryptography;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Oversight.Hosting;
using Oversight.Hosting.Auth;
using Oversight.Kyc.Accounts;
using Oversight.Kyc.Data;
using Oversight.Kyc.Purposes;
using Oversight.Kyc.V1;
using PolicyRequirement = Oversight.Policy.RequirementKind;

namespace Oversight.Kyc;

public sealed partial class KycTieringService
{
    public const int MaxPurposeTextLength = 2000;

    /// <summary>
    /// Stores the purpose (text sealed under the account's data key, plus a keyed hash) and,
    /// if the account is below the ladder's stated-purpose rung, moves it there with its
    /// AccountTierChanged in the same transaction. A restated purpose replaces the stored one.
    /// </summary>
    public override async Task<StatePurposeResponse> StatePurpose(StatePurposeRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Operator);
        var text = request.Text.Trim();
        CheckAccountIds(request.MarketplaceId, request.AccountId)
            .Check(request.Category != PurposeCategory.Unspecified && System.Enum.IsDefined(request.Category), "category",
                $"category must be one of {string.Join(", ", EnumNames.CategoryNames)}.")
            .Check(text.Length > 0, "text", "text is required (1 to 2000 characters).")
            .Check(text.Length <= MaxPurposeTextLength, "text", $"text must be at most {MaxPurposeTextLength} characters.")
            .ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var (marketplaceId, accountId, ct) = (request.MarketplaceId, request.AccountId, context.CancellationToken);
        var category = EnumNames.Name(request.Category);
        var purposeHash = await WithConflictRetryAsync(async () =>
        {
            var account = await FindAccountAsync(marketplaceId, accountId, ct);
            RefuseErased(account);
            var now = clock.GetUtcNow();

            var key = await db.AccountKeys.FirstOrDefaultAsync(k => k.MarketplaceId == marketplaceId && k.AccountId == accountId, ct);
            byte[] dataKey;
            if (key is null)
            {
                (dataKey, key) = crypto.CreateDataKey(marketplaceId, accountId, now);
                db.AccountKeys.Add(key);
            }
            else
            {
                dataKey = crypto.Unwrap(key);
            }

            SealedField sealedText;
            try
            {
                sealedText = KycCrypto.Seal(dataKey, key, KycCrypto.PurposeTextField, text);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(dataKey);
            }

            var (hash, hashKeyVersion) = crypto.HashPurpose(text);
            var purpose = await db.StatedPurposes.FirstOrDefaultAsync(p => p.MarketplaceId == marketplaceId && p.AccountId == accountId, ct);
            if (purpose is null)
            {
                purpose = new StatedPurposeRecord { MarketplaceId = marketplaceId, AccountId = accountId };
                db.StatedPurposes.Add(purpose);
            }

            purpose.Category = category;
            purpose.Ciphertext = sealedText.Ciphertext;
            purpose.Nonce = sealedText.Nonce;
            purpose.Tag = sealedText.Tag;
            purpose.DataKeyVersion = key.DataKeyVersion;
            purpose.TextHash = hash;
            purpose.HashKeyVersion = hashKeyVersion;
            purpose.StatedAt = now;
            account.PurposeCategory = category;

            var (version, policy) = await policies.CurrentAsync(db, marketplaceId, ct);
            if (AccountChanges.LowestRungWith(policy, PolicyRequirement.StatedPurpose) is { } rung && AccountChanges.LevelOn(policy, account) < rung)
            {
                AccountChanges.ChangeTier(db, account, policy, version, rung, "purpose stated", caller.Actor, now);
            }

            // The category is not personal data; the text and its hash stay out of the audit log.
            AccountChanges.Audit(db, AuditActions.PurposeStated, marketplaceId, accountId, caller.Actor, "category " + category, account.PolicyVersion, now);
            await CommitAsync(marketplaceId, accountId, ct);
            return hash;
        });

        logger.LogInformation("Purpose stated for {MarketplaceId}/{AccountId} (category {Category}) by {Actor}", marketplaceId, accountId, category, caller.Actor);
        return new StatePurposeResponse { Account = await LoadAccountAsync(marketplaceId, accountId, ct), PurposeHash = purposeHash };
    }

    /// <summary>Auditor only: decrypts the purpose text after the read and its reason are committed to the audit log.</summary>
    public override async Task<ReadPurposeResponse> ReadPurpose(ReadPurposeRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Auditor);
        CheckAccountIds(request.MarketplaceId, request.AccountId).Also(v => CheckReason(v, request.Reason)).ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var (marketplaceId, accountId, ct) = (request.MarketplaceId, request.AccountId, context.CancellationToken);
        var account = await FindAccountAsync(marketplaceId, accountId, ct);
        RefuseErased(account);
        var purpose = await db.StatedPurposes.AsNoTracking().FirstOrDefaultAsync(p => p.MarketplaceId == marketplaceId && p.AccountId == accountId, ct);
        if (purpose?.Ciphertext is null || purpose.Nonce is null || purpose.Tag is null)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"account_id '{accountId}' has no stated purpose."));
        }

        var key = await db.AccountKeys.AsNoTracking().FirstOrDefaultAsync(k => k.MarketplaceId == marketplaceId && k.AccountId == accountId, ct)
            ?? throw new RpcException(new Status(StatusCode.FailedPrecondition, "The account's data key is gone: the purpose can no longer be read."));

        string text;
        var dataKey = Array.Empty<byte>();
        try
        {
            dataKey = crypto.Unwrap(key);
            text = KycCrypto.Open(dataKey, key, KycCrypto.PurposeTextField, new SealedField(purpose.Ciphertext, purpose.Nonce, purpose.Tag), purpose.DataKeyVersion);
        }
        catch (CryptographicException exception)
        {
            logger.LogError(exception, "Purpose of {MarketplaceId}/{AccountId} failed to decrypt", marketplaceId, accountId);
            throw new RpcException(new Status(StatusCode.Internal, "The stored purpose failed its integrity check and cannot be read."));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }

        // The read is recorded before the text leaves: no unaudited read.
        AccountChanges.Audit(db, AuditActions.PurposeRead, marketplaceId, accountId, caller.Actor, request.Reason.Trim(), account.PolicyVersion, clock.GetUtcNow());
        await db.SaveChangesAsync(ct);
        logger.LogInformation("Purpose of {MarketplaceId}/{AccountId} read by {Actor}", marketplaceId, accountId, caller.Actor);
        return new ReadPurposeResponse
        {
            Category = EnumNames.ParseCategory(purpose.Category),
            Text = text,
            StatedAt = Timestamp.FromDateTimeOffset(purpose.StatedAt),
        };
    }

    private static void RefuseErased(AccountRecord account)
    {
        if (account.ErasedAt is not null)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "The account was erased."));
        }
    }
}
