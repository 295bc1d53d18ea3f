using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Oversight.Kyc.Verification;

/// <summary>
/// The result document of the simulated provider (and the format docs/identity-verification.md
/// documents for vendor adapters), UTF-8 JSON:
/// <code>
/// {
///   "event_id": "evt_123",              // required, 1-128 chars; idempotency key per provider
///   "session_ref": "sim_...",           // required; from StartIdentityVerification
///   "status": "approved",               // required: "approved" | "failed" | "pending"
///   "assurance_level": "substantial",   // optional, up to 64 chars (e.g. eIDAS low/substantial/high)
///   "occurred_at": "2026-01-02T03:04:05Z", // required, RFC 3339 with an offset
///   "document_number": "X1234567"       // optional; only hashed into a blind index, then discarded
/// }
/// </code>
/// An organisation result (session from StartOrganisationVerification) says so and carries the
/// registry identifier and the attested number of beneficial owners instead of a document:
/// <code>
/// {
///   "kind": "organisation",             // "identity" (the default) | "organisation"
///   "registry_id": "GB-COH:01234567",   // required when approved; only hashed into a blind index
///   "beneficial_owner_count": 2,        // required when approved; 0-10000
///   ...                                 // event_id, session_ref, status, assurance_level, occurred_at as above
/// }
/// </code>
/// Unknown members are ignored (and never stored), so a vendor may add fields.
/// </summary>
public static partial class VerificationPayload
{
    public const int MaxBytes = 64 * 1024;
    public const int MaxBeneficialOwners = 10_000;

    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = false };

    public sealed record Document(
        [property: JsonPropertyName("event_id")] string? EventId,
        [property: JsonPropertyName("session_ref")] string? SessionRef,
        [property: JsonPropertyName("status")] string? Status,
        [property: JsonPropertyName("assurance_level")] string? AssuranceLevel,
        [property: JsonPropertyName("occurred_at")] string? OccurredAt,
        [property: JsonPropertyName("document_number")] string? DocumentNumber,
        [property: JsonPropertyName("kind"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Kind = null,
        [property: JsonPropertyName("registry_id"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? RegistryId = null,
        [property: JsonPropertyName("beneficial_owner_count"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? BeneficialOwnerCount = null)
    {
        // The document number and registry id never reach a log line through this record.
        public override string ToString() => $"Document {{ EventId = {EventId}, SessionRef = {SessionRef}, Kind = {Kind}, Status = {Status} }}";
    }

    public static byte[] Serialize(Document document) => JsonSerializer.SerializeToUtf8Bytes(document, Json);

    /// <exception cref="VerificationPayloadException">The payload is not a valid result document.</exception>
    public static VerificationResult Parse(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty)
        {
            throw new VerificationPayloadException("empty; expected the provider's JSON result document.");
        }

        Document? document;
        try
        {
            document = JsonSerializer.Deserialize<Document>(payload, Json);
        }
        catch (JsonException)
        {
            // The exception's own message is not echoed: it may quote the input.
            throw new VerificationPayloadException("not a JSON object with string members event_id, session_ref, status, occurred_at (and an integer beneficial_owner_count, if given).");
        }

        if (document is null)
        {
            throw new VerificationPayloadException("JSON null; expected an object.");
        }

        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(document.EventId) || document.EventId.Length > 128)
        {
            problems.Add("event_id is required (1-128 characters)");
        }

        if (string.IsNullOrWhiteSpace(document.SessionRef) || document.SessionRef.Length > 128)
        {
            problems.Add("session_ref is required (1-128 characters)");
        }

        VerificationOutcome? status = document.Status switch
        {
            "approved" => VerificationOutcome.Approved,
            "failed" => VerificationOutcome.Failed,
            "pending" => VerificationOutcome.Pending,
            _ => null,
        };
        if (status is null)
        {
            problems.Add("status must be one of approved, failed, pending");
        }

        if (document.AssuranceLevel is { Length: > 64 })
        {
            problems.Add("assurance_level is longer than 64 characters");
        }

        DateTimeOffset occurredAt = default;
        if (document.OccurredAt is null || !Rfc3339Offset().IsMatch(document.OccurredAt) ||
            !DateTimeOffset.TryParse(document.OccurredAt, CultureInfo.InvariantCulture, DateTimeStyles.None, out occurredAt))
        {
            problems.Add("occurred_at is required as an RFC 3339 date-time with an offset (e.g. 2026-01-02T03:04:05Z)");
        }

        if (document.DocumentNumber is { Length: > 256 })
        {
            problems.Add("document_number is longer than 256 characters");
        }

        VerificationType? kind = document.Kind switch
        {
            null or "identity" => VerificationType.Identity,
            "organisation" => VerificationType.Organisation,
            _ => null,
        };
        if (kind is null)
        {
            problems.Add("kind must be identity or organisation");
        }
        else if (kind == VerificationType.Identity)
        {
            if (document.RegistryId is not null || document.BeneficialOwnerCount is not null)
            {
                problems.Add("registry_id and beneficial_owner_count belong to kind organisation only");
            }
        }
        else
        {
            if (document.DocumentNumber is not null)
            {
                problems.Add("document_number belongs to kind identity only");
            }

            if (document.RegistryId is { Length: > 256 })
            {
                problems.Add("registry_id is longer than 256 characters");
            }

            if (document.BeneficialOwnerCount is < 0 or > MaxBeneficialOwners)
            {
                problems.Add($"beneficial_owner_count must be 0 to {MaxBeneficialOwners}");
            }

            if (status == VerificationOutcome.Approved)
            {
                if (string.IsNullOrWhiteSpace(document.RegistryId))
                {
                    problems.Add("registry_id is required in an approved organisation result");
                }

                if (document.BeneficialOwnerCount is null)
                {
                    problems.Add("beneficial_owner_count is required in an approved organisation result");
                }
            }
        }

        if (problems.Count > 0)
        {
            throw new VerificationPayloadException(string.Join("; ", problems) + ".");
        }

        return new VerificationResult(
            document.EventId!, document.SessionRef!, status!.Value,
            string.IsNullOrWhiteSpace(document.AssuranceLevel) ? null : document.AssuranceLevel,
            occurredAt.ToUniversalTime(),
            string.IsNullOrWhiteSpace(document.DocumentNumber) ? null : document.DocumentNumber,
            kind!.Value,
            string.IsNullOrWhiteSpace(document.RegistryId) ? null : document.RegistryId,
            document.BeneficialOwnerCount);
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial Regex Rfc3339Offset();
}
