using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Oversight.Kyc.Data;
using Oversight.Kyc.Secrets;

namespace Oversight.Kyc.Purposes;

/// <summary>AES-GCM ciphertext of one field: the three parts are stored in separate columns.</summary>
public sealed record SealedField(byte[] Ciphertext, byte[] Nonce, byte[] Tag);

/// <summary>
/// Envelope encryption and keyed hashes (REFERENCE.md, privacy building blocks):
/// one random AES-256 data key per account, wrapped with AES-GCM by a versioned
/// key-encryption key (KEK) from configuration; fields are sealed with AES-GCM under the data
/// key. Associated data binds marketplace, account, field and key versions, so a
/// ciphertext copied to another account or field does not decrypt. Deleting the wrapped
/// data key crypto-shreds the account's fields. HMAC-SHA256 under versioned keys gives the
/// purpose hash and the identity-document blind index: comparable, not reversible, and not
/// guessable from short texts without the key.
/// </summary>
public sealed class KycCrypto(IOptions<KycSecretsOptions> options)
{
    public const string PurposeTextField = "purpose_text";
    private const int KeyBytes = 32;
    private const int NonceBytes = 12;
    private const int TagBytes = 16;

    private KycSecretsOptions Secrets => options.Value;

    /// <summary>A fresh data key for the account, and its wrapped form to store.</summary>
    public (byte[] DataKey, AccountKeyRecord Record) CreateDataKey(string marketplaceId, string accountId, DateTimeOffset now)
    {
        var dataKey = RandomNumberGenerator.GetBytes(KeyBytes);
        var record = new AccountKeyRecord
        {
            MarketplaceId = marketplaceId,
            AccountId = accountId,
            DataKeyVersion = 1,
            CreatedAt = now,
        };
        Wrap(record, dataKey);
        return (dataKey, record);
    }

    /// <summary>Wraps (or rewraps, after a KEK rotation) the data key under the current KEK.</summary>
    public void Wrap(AccountKeyRecord record, byte[] dataKey)
    {
        var kekVersion = Secrets.CurrentPurposeKeyVersion!;
        var nonce = RandomNumberGenerator.GetBytes(NonceBytes);
        var wrapped = new byte[NonceBytes + KeyBytes + TagBytes];
        nonce.CopyTo(wrapped, 0);
        using var aes = new AesGcm(Kek(kekVersion), TagBytes);
        aes.Encrypt(nonce, dataKey, wrapped.AsSpan(NonceBytes, KeyBytes), wrapped.AsSpan(NonceBytes + KeyBytes, TagBytes),
            WrapAad(record.MarketplaceId, record.AccountId, kekVersion, record.DataKeyVersion));
        record.WrappedKey = wrapped;
        record.KekVersion = kekVersion;
    }

    /// <exception cref="CryptographicException">The wrapped key was altered or belongs to another account.</exception>
    public byte[] Unwrap(AccountKeyRecord record)
    {
        var wrapped = record.WrappedKey;
        if (wrapped.Length != NonceBytes + KeyBytes + TagBytes)
        {
            throw new CryptographicException("The wrapped data key has the wrong length.");
        }

        var dataKey = new byte[KeyBytes];
        using var aes = new AesGcm(Kek(record.KekVersion), TagBytes);
        aes.Decrypt(wrapped.AsSpan(0, NonceBytes), wrapped.AsSpan(NonceBytes, KeyBytes), wrapped.AsSpan(NonceBytes + KeyBytes, TagBytes), dataKey,
            WrapAad(record.MarketplaceId, record.AccountId, record.KekVersion, record.DataKeyVersion));
        return dataKey;
    }

    public static SealedField Seal(byte[] dataKey, AccountKeyRecord key, string field, string plaintext)
    {
        var nonce = RandomNumberGenerator.GetBytes(NonceBytes);
        var plain = Encoding.UTF8.GetBytes(plaintext);
        var ciphertext = new byte[plain.Length];
        var tag = new byte[TagBytes];
        using var aes = new AesGcm(dataKey, TagBytes);
        aes.Encrypt(nonce, plain, ciphertext, tag, FieldAad(key.MarketplaceId, key.AccountId, field, key.DataKeyVersion));
        CryptographicOperations.ZeroMemory(plain);
        return new SealedField(ciphertext, nonce, tag);
    }

    /// <exception cref="CryptographicException">The ciphertext was altered, moved, or the key is wrong.</exception>
    public static string Open(byte[] dataKey, AccountKeyRecord key, string field, SealedField sealedField, int dataKeyVersion)
    {
        var plain = new byte[sealedField.Ciphertext.Length];
        using var aes = new AesGcm(dataKey, TagBytes);
        aes.Decrypt(sealedField.Nonce, sealedField.Ciphertext, sealedField.Tag, plain, FieldAad(key.MarketplaceId, key.AccountId, field, dataKeyVersion));
        return Encoding.UTF8.GetString(plain);
    }

    /// <summary>Keyed hash of a purpose text (hex) and the key version used.</summary>
    public (string Hash, string KeyVersion) HashPurpose(string text) =>
        (Hmac(Secrets.PurposeHashKey.Bytes, text), Secrets.PurposeHashKey.Version!);

    /// <summary>
    /// Blind index of an identity document number (hex) and the key version: HMAC over the
    /// number with spaces and dashes removed, upper case, so trivially different spellings
    /// of one document match. The number itself is never stored or logged.
    /// </summary>
    public (string Index, string KeyVersion) BlindIndex(string documentNumber) =>
        (Hmac(Secrets.BlindIndexKey.Bytes, NormalizeIdentifier(documentNumber)), Secrets.BlindIndexKey.Version!);

    /// <summary>
    /// Blind index of an organisation's registry identifier (hex) and the key version: the same
    /// key and normalisation as documents, with a domain prefix so that a registry id never
    /// matches a document number that happens to be spelt alike.
    /// </summary>
    public (string Index, string KeyVersion) RegistryBlindIndex(string registryId) =>
        (Hmac(Secrets.BlindIndexKey.Bytes, RegistryDomain + NormalizeIdentifier(registryId)), Secrets.BlindIndexKey.Version!);

    /// <summary>Upper case, without white space and dashes: "x9 8765-4321" and "X987654321" are one document.</summary>
    public static string NormalizeIdentifier(string value) =>
        new string(value.Where(c => !char.IsWhiteSpace(c) && c != '-').ToArray()).ToUpperInvariant();

    private const string RegistryDomain = "organisation_registry|";

    private static string Hmac(byte[] key, string value) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(value)));

    private byte[] Kek(string version) =>
        Secrets.PurposeKeys.TryGetValue(version, out var key)
            ? Convert.FromBase64String(key)
            : throw new CryptographicException($"Key-encryption key version '{version}' is not configured in {KycSecretsOptions.Section}:PurposeKeys.");

    // Ids are [A-Za-z0-9._:-] (validated), so '|' cannot occur in them: the encoding is unambiguous.
    private static byte[] WrapAad(string marketplaceId, string accountId, string kekVersion, int dataKeyVersion) =>
        Encoding.UTF8.GetBytes($"oversight-kyc/v1|data_key|{marketplaceId}|{accountId}|kek:{kekVersion}|dk:{dataKeyVersion}");

    private static byte[] FieldAad(string marketplaceId, string accountId, string field, int dataKeyVersion) =>
        Encoding.UTF8.GetBytes($"oversight-kyc/v1|field|{marketplaceId}|{accountId}|{field}|dk:{dataKeyVersion}");
}
