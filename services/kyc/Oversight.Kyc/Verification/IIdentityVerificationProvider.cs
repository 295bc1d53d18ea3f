namespace Oversight.Kyc.Verification;

/// <summary>What a verification establishes: a natural person's identity, or an organisation.</summary>
public enum VerificationType
{
    Identity = 1,
    Organisation = 2,
}

/// <summary>The account a verification session is opened for: a pseudonym, never personal data.</summary>
public sealed record VerificationSubject(string MarketplaceId, string AccountId, VerificationType Kind = VerificationType.Identity);

/// <summary>A session at the provider: the reference it echoes in its result, and where the user goes.</summary>
public sealed record VerificationSession(string SessionRef, string RedirectUrl);

/// <summary>
/// An identity-verification vendor behind one adapter (issue 4): KYC opens sessions with it
/// and ingests its signed results. A real vendor implements this next to
/// <see cref="SimulatedIdentityProvider"/>. Callbacks are authenticated by KYC itself (HMAC
/// over the raw payload bytes and a timestamp, <see cref="CallbackSignature"/>); the adapter
/// only says which secrets are active and how to read its payload.
/// </summary>
public interface IIdentityVerificationProvider
{
    /// <summary>The provider's name in SubmitVerificationResultRequest.provider and in stored records.</summary>
    string Name { get; }

    Task<VerificationSession> StartSessionAsync(VerificationSubject subject, CancellationToken cancellationToken);

    /// <summary>The callback secret with this id, if it is active (two may be, during a rotation).</summary>
    byte[]? FindCallbackSecret(string secretId);

    /// <summary>Reads the provider's result document.</summary>
    /// <exception cref="VerificationPayloadException">The payload is malformed; the message says why (never echoing personal data).</exception>
    VerificationResult ParseResult(ReadOnlySpan<byte> payload);
}

public enum VerificationOutcome
{
    Pending = 1,
    Approved = 2,
    Failed = 3,
}

/// <summary>
/// A provider's result, typed. <see cref="DocumentNumber"/> and <see cref="RegistryId"/> are
/// identifying data: each is used only to compute a blind index and is then dropped; never
/// store, log or echo them. <see cref="BeneficialOwnerCount"/> is the provider's attested
/// number of beneficial owners of an organisation (organisation results only).
/// </summary>
public sealed record VerificationResult(
    string EventId,
    string SessionRef,
    VerificationOutcome Status,
    string? AssuranceLevel,
    DateTimeOffset OccurredAt,
    string? DocumentNumber,
    VerificationType Kind = VerificationType.Identity,
    string? RegistryId = null,
    int? BeneficialOwnerCount = null)
{
    // Keeps the document number out of any log line or exception that prints the record.
    public override string ToString() =>
        $"VerificationResult {{ EventId = {EventId}, SessionRef = {SessionRef}, Kind = {Kind}, Status = {Status}, AssuranceLevel = {AssuranceLevel}, OccurredAt = {OccurredAt:O} }}";
}

public sealed class VerificationPayloadException(string message) : Exception(message);
