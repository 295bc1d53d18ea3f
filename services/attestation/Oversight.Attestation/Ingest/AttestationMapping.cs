using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Oversight.Attestation.Data;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Signing;

namespace Oversight.Attestation.Ingest;

/// <summary>Conversions between the ledger's rows and the proto messages.</summary>
public static class AttestationMapping
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static UsageAttestation ToAttestation(LedgerEntry e) => new()
    {
        AttestationId = e.AttestationId,
        MarketplaceId = e.MarketplaceId,
        ProviderId = e.ProviderId,
        LeaseId = e.LeaseId,
        AccountId = e.AccountId,
        AcceleratorModel = e.AcceleratorModel,
        AcceleratorCount = e.AcceleratorCount,
        IntervalStart = Timestamp.FromDateTimeOffset(e.IntervalStart),
        IntervalEnd = Timestamp.FromDateTimeOffset(e.IntervalEnd),
        Final = e.Final,
        FlopUnits = e.FlopUnits,
        Precision = AttestationCanonicalForm.ParsePrecision(e.Precision),
        WorkloadCommitment = e.WorkloadCommitment,
        WorkloadClass = AttestationCanonicalForm.ParseWorkloadClass(e.WorkloadClass),
        SignedAt = Timestamp.FromDateTimeOffset(e.SignedAt),
        Sequence = e.Sequence,
    };

    public static Receipt ToReceipt(LedgerEntry e)
    {
        var receipt = new Receipt
        {
            AttestationId = e.AttestationId,
            Outcome = e.Outcome == nameof(Outcome.Flagged).ToUpperInvariant() ? Outcome.Flagged : Outcome.Accepted,
            AppraisalPolicyVersion = e.AppraisalPolicyVersion,
            LeafIndex = e.LeafIndex,
            LeafHash = Convert.ToHexStringLower(e.LeafHash),
            RecordedAt = Timestamp.FromDateTimeOffset(e.RecordedAt),
            SequenceGap = e.SequenceGap,
            ImpliedUtilisation = e.ImpliedUtilisation,
        };
        receipt.ReasonCodes.AddRange(e.ReasonCodes.Split(',', StringSplitOptions.RemoveEmptyEntries));
        return receipt;
    }

    /// <summary>"ACCEPTED" or "FLAGGED": the proto name without its prefix, as on the bus.</summary>
    public static string OutcomeName(Outcome outcome) => outcome == Outcome.Flagged ? "FLAGGED" : "ACCEPTED";

    public static Provider ToProvider(ProviderRecord provider, IEnumerable<ProviderKeyRecord> keys)
    {
        var result = new Provider
        {
            MarketplaceId = provider.MarketplaceId,
            ProviderId = provider.ProviderId,
            LastSequence = provider.LastSequence,
            RegisteredAt = Timestamp.FromDateTimeOffset(provider.RegisteredAt),
        };
        result.Inventory.AddRange(ReadInventory(provider.InventoryJson).Select(i => new AcceleratorInventory { AcceleratorModel = i.Model, Count = i.Count }));
        foreach (var key in keys.OrderBy(k => k.ValidFrom).ThenBy(k => k.KeyId, StringComparer.Ordinal))
        {
            result.Keys.Add(new ProviderKey
            {
                KeyId = key.KeyId,
                PublicKeyPem = key.PublicKeyPem,
                ValidFrom = Timestamp.FromDateTimeOffset(key.ValidFrom),
                ValidUntil = key.ValidUntil is { } until ? Timestamp.FromDateTimeOffset(until) : null,
                RevokedAt = key.RevokedAt is { } revoked ? Timestamp.FromDateTimeOffset(revoked) : null,
            });
        }

        return result;
    }

    public static IReadOnlyList<InventoryItem> ReadInventory(string json) =>
        JsonSerializer.Deserialize<List<InventoryItem>>(json, Json) ?? [];

    public static string WriteInventory(IEnumerable<InventoryItem> items) => JsonSerializer.Serialize(items, Json);

    public static string PrecisionName(PrecisionClass precision) => AttestationCanonicalForm.PrecisionName(precision);
}

/// <summary>One line of a provider's declared inventory (stored as JSON).</summary>
public sealed record InventoryItem(string Model, int Count);
