using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Net.Client.Configuration;
using Oversight.Attestation.V1;
using Oversight.Enforcement.V1;
using Oversight.Kyc.V1;

namespace Oversight.Client;

/// <summary>
/// Which calls the client retries, and why. gRPC's built-in retry policy (a service config on the
/// channel) resends a call that failed with UNAVAILABLE, within the call's deadline, with
/// exponential backoff. A call that failed that way may still have been carried out (the answer
/// was lost), so only calls whose repetition changes nothing are retried: reads, and writes that
/// carry their own idempotency key.
/// </summary>
public static class OversightRetryPolicy
{
    /// <summary>
    /// The retried methods, full gRPC names (<c>package.Service/Method</c>), each with the reason
    /// it is safe to send twice. Every other method is sent once: a retry could not tell its own
    /// earlier success from a conflict, or would record a second event.
    /// </summary>
    /// <remarks>
    /// Not retried, for example: CreateAccount (a second attempt after a lost answer gets
    /// ALREADY_EXISTS), StatePurpose, ReadPurpose, Suspend/Reinstate/Link/EraseAccount (each is
    /// audited; a replayed erase fails), Start*Verification (a new session each time),
    /// RegisterProvider and RotateProviderKey (ALREADY_EXISTS), RevokeProviderKey,
    /// UpdateProviderInventory, SetPolicy (a new version each time), RebuildCounters (heavy; run it
    /// again by hand), StreamAttestations (a client stream cannot be replayed; its items are
    /// idempotent, so resend the stream yourself), SetClock.
    /// </remarks>
    public static IReadOnlyDictionary<string, string> IdempotentMethods { get; } = BuildIdempotentMethods();

    private static Dictionary<string, string> BuildIdempotentMethods()
    {
        const string Read = "reads only";
        var methods = new Dictionary<string, string>(StringComparer.Ordinal);
        void Add(ServiceDescriptor service, string method, string why) =>
            // Looked up in the compiled contract: a renamed method fails here, not silently.
            methods.Add(Name(service.FindMethodByName(method) ?? throw new InvalidOperationException($"{service.FullName} has no method {method}.")), why);

        var kyc = KycTiering.Descriptor;
        Add(kyc, "GetAccount", Read);
        Add(kyc, "GetTierTokenKeys", Read);
        Add(kyc, "ListAuditEvents", Read);
        Add(kyc, "IssueTierToken", "signs a fresh short-lived token and changes no state; a second token is as good as the first");

        var attestation = WorkloadAttestation.Descriptor;
        Add(attestation, "SubmitAttestation", "idempotent by the provider's attestation_id: the same id with the same canonical bytes returns the stored receipt and is counted once");
        Add(attestation, "GetProvider", Read);
        Add(attestation, "GetAttestation", Read);
        Add(attestation, "GetCheckpoint", Read);
        Add(attestation, "GetLogPublicKey", Read);
        Add(attestation, "GetInclusionProof", Read);
        Add(attestation, "GetConsistencyProof", Read);
        Add(attestation, "ListReviewItems", Read);
        Add(attestation, "ExportAttestations", Read + " (a server stream: retried only until its first message arrives)");

        var enforcement = ThresholdEnforcement.Descriptor;
        Add(enforcement, "Authorize", "idempotent by lease_id: the same lease authorized twice returns the same reservation (replayed = true)");
        Add(enforcement, "ReleaseReservation", "releasing a lease already released answers released = false and changes nothing");
        Add(enforcement, "GetUsage", Read);
        Add(enforcement, "GetPolicy", Read);
        Add(enforcement, "ListPolicyVersions", Read);
        return methods;
    }

    /// <summary>The gRPC service config that retries <see cref="IdempotentMethods"/> on UNAVAILABLE.</summary>
    public static ServiceConfig ServiceConfig(OversightRetryOptions retry)
    {
        ArgumentNullException.ThrowIfNull(retry);
        var config = new ServiceConfig();
        if (retry.MaxAttempts <= 1)
        {
            return config;
        }

        var idempotent = new MethodConfig
        {
            RetryPolicy = new RetryPolicy
            {
                MaxAttempts = retry.MaxAttempts,
                InitialBackoff = retry.InitialBackoff,
                MaxBackoff = retry.MaxBackoff,
                BackoffMultiplier = retry.BackoffMultiplier,
                RetryableStatusCodes = { StatusCode.Unavailable },
            },
        };
        foreach (var name in IdempotentMethods.Keys)
        {
            var slash = name.IndexOf('/', StringComparison.Ordinal);
            idempotent.Names.Add(new MethodName { Service = name[..slash], Method = name[(slash + 1)..] });
        }

        config.MethodConfigs.Add(idempotent);
        return config;
    }

    private static string Name(MethodDescriptor method) => $"{method.Service.FullName}/{method.Name}";
}
