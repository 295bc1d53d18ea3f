namespace Oversight.Attestation.Ingest;

/// <summary>
/// Machine-readable reasons: in receipts (<c>reason_codes</c>) and, for refusals, as the
/// <c>google.rpc.ErrorInfo.reason</c> of the error and at the end of its message.
/// </summary>
public static class ReasonCodes
{
    public const string Domain = "attestation.oversight";

    // Refusals (the RPC fails; nothing is stored, logged or counted). On the stream they are
    // REJECTED receipts carrying the same codes.
    /// <summary>A field violation (INVALID_ARGUMENT with google.rpc.BadRequest): the stream's code for it.</summary>
    public const string Malformed = "MALFORMED";
    /// <summary>The attestation names another provider or marketplace than the caller's token.</summary>
    public const string PermissionDenied = "PERMISSION_DENIED";
    public const string ProviderUnknown = "PROVIDER_UNKNOWN";
    public const string KeyUnknown = "KEY_UNKNOWN";
    public const string SignatureInvalid = "SIGNATURE_INVALID";
    public const string KeyNotYetValid = "KEY_NOT_YET_VALID";
    public const string KeyExpired = "KEY_EXPIRED";
    public const string KeyRevoked = "KEY_REVOKED";
    public const string IntervalEndInFuture = "INTERVAL_END_IN_FUTURE";
    public const string TooOld = "ATTESTATION_TOO_OLD";
    public const string SignedAtInFuture = "SIGNED_AT_IN_FUTURE";
    public const string SignedBeforeIntervalEnd = "SIGNED_BEFORE_INTERVAL_END";
    public const string AcceleratorUnknown = "ACCELERATOR_UNKNOWN";
    public const string ModelNotInInventory = "MODEL_NOT_IN_INVENTORY";
    public const string CountAboveInventory = "COUNT_ABOVE_INVENTORY";
    public const string FlopAbovePeak = "FLOP_ABOVE_PEAK";

    // Refusals that are also kept in the review table.
    public const string DuplicateIdDifferentBytes = "DUPLICATE_ID_DIFFERENT_BYTES";
    public const string SequenceReused = "SEQUENCE_REUSED";

    // Flags (stored, logged and counted).
    public const string UtilisationAboveCeiling = "UTILISATION_ABOVE_CEILING";
}
