using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Oversight.Attestation.Ingest;
using Oversight.Attestation.V1;
using Oversight.Common.V1;
using Oversight.Signing;

namespace Oversight.Attestation.Tests;

/// <summary>
/// Properties of attestation validation and signing: the canonical encoding is injective (it
/// decodes back), validation is total and precise, a mutated field is refused with a precise
/// status or encodes to the same bytes, and a signature never covers other bytes.
/// </summary>
public sealed class AttestationProperties(AttestationServerFixture fixture) : IClassFixture<AttestationServerFixture>
{
    private const string IdChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";
    private static readonly ECDsa Key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private static readonly DateTimeOffset Base = DateTimeOffset.FromUnixTimeSeconds(1_780_000_000);

    private static Gen<string> Ids(int max = 24) =>
        from length in Gen.Choose(1, max)
        from chars in Gen.ArrayOf(Gen.Elements(IdChars.ToCharArray()), length)
        select new string(chars);

    // Any text the encoder accepts: no control characters, but '=', spaces and non-ASCII allowed.
    private static Gen<string> Texts() =>
        from length in Gen.Choose(0, 20)
        from chars in Gen.ArrayOf(Gen.Elements("aZ09=:. -_é€😀".EnumerateRunes().Select(r => r.ToString()).ToArray()), length)
        select string.Concat(chars);

    private static Gen<Timestamp> Seconds() => Gen.Choose(0, int.MaxValue).Select(s => new Timestamp { Seconds = s });

    private static Gen<UsageAttestation> Encodable(Gen<string> text) =>
        from strings in Gen.ArrayOf(text, 6)
        from count in Gen.Choose(int.MinValue, int.MaxValue)
        from times in Gen.ArrayOf(Seconds(), 3)
        from final in Gen.Elements(true, false)
        from flop in Gen.Choose(int.MinValue, int.MaxValue).Select(i => (long)i * 7919)
        from precision in Gen.Elements(System.Enum.GetValues<PrecisionClass>())
        from commitment in text
        from workload in Gen.Elements(System.Enum.GetValues<WorkloadClass>())
        from sequence in Gen.Choose(int.MinValue, int.MaxValue).Select(i => (long)i * 104729)
        select new UsageAttestation
        {
            AttestationId = strings[0],
            MarketplaceId = strings[1],
            ProviderId = strings[2],
            LeaseId = strings[3],
            AccountId = strings[4],
            AcceleratorModel = strings[5],
            AcceleratorCount = count,
            IntervalStart = times[0],
            IntervalEnd = times[1],
            Final = final,
            FlopUnits = flop,
            Precision = precision,
            WorkloadCommitment = commitment,
            WorkloadClass = workload,
            SignedAt = times[2],
            Sequence = sequence,
        };

    [Property(MaxTest = 500)]
    public Property CanonicalEncoding_DecodesBackToTheAttestation_SoTwoAttestationsNeverShareBytes() =>
        Prop.ForAll(Arb.From(Encodable(Texts())), a => Decode(AttestationCanonicalForm.Encode(a)).Equals(a));

    [Property(MaxTest = 300)]
    public Property Signature_OverBytesWithAnyBitFlipped_NeverVerifies() =>
        Prop.ForAll(Arb.From(
            from a in Encodable(Ids())
            from position in Gen.Choose(0, 10_000)
            from bit in Gen.Choose(0, 7)
            from inSignature in Gen.Elements(true, false)
            select (a, position, bit, inSignature)), t =>
        {
            var bytes = AttestationCanonicalForm.Encode(t.a);
            var signature = AttestationSignature.Sign(t.a, Key);
            var target = t.inSignature ? signature : bytes;
            target[t.position % target.Length] ^= (byte)(1 << t.bit);
            return AttestationSignature.Verify(bytes, signature, Key) == false;
        });

    [Property(MaxTest = 1000)]
    public Property Validator_IsTotal_EitherAcceptsWhatEncodesOrNamesTheBadFields() =>
        Prop.ForAll(Arb.From(
            from a in Encodable(Gen.OneOf(Ids(), Texts(), Gen.Constant("a\nb"), Gen.Constant(new string('x', 129)), Gen.Constant("")))
            from nanos in Gen.Elements(0, 0, 0, 1, 999_999_999)
            from precision in Gen.Choose(-1, 9)
            from workload in Gen.Choose(-1, 8)
            from keyId in Gen.OneOf(Ids(), Gen.Constant(""))
            from signatureLength in Gen.Elements(0, 63, 64, 64, 65)
            select (a, nanos, precision, workload, keyId, signatureLength)), t =>
        {
            var a = t.a;
            a.IntervalEnd.Nanos = t.nanos;
            a.Precision = (PrecisionClass)t.precision;
            a.WorkloadClass = (WorkloadClass)t.workload;
            var request = new SubmitAttestationRequest { Attestation = a, KeyId = t.keyId, Signature = ByteString.CopyFrom(new byte[t.signatureLength]) };
            try
            {
                AttestationValidator.Validate(request, TimeSpan.FromDays(31));
                return AttestationCanonicalForm.Encode(a).Length > 0;
            }
            catch (RpcException e)
            {
                var fields = e.GetRpcStatus()?.GetDetail<BadRequest>()?.FieldViolations.Select(v => v.Field).ToList() ?? [];
                return e.StatusCode == StatusCode.InvalidArgument && fields.Count > 0 && fields.All(f => f.StartsWith("attestation.", StringComparison.Ordinal) || f is "key_id" or "signature");
            }
        });

    [Property(MaxTest = 500)]
    public Property Mutation_OfASignedAttestation_IsRefusedNamingTheFieldOrSignatureOrEncodesTheSameBytes() =>
        Prop.ForAll(Arb.From(Mutations()), mutation =>
        {
            var original = Valid("prov-1");
            var signature = AttestationSignature.Sign(original, Key);
            var request = new SubmitAttestationRequest { Attestation = original.Clone(), KeyId = "key-1", Signature = ByteString.CopyFrom(signature) };
            mutation.Apply(request);
            try
            {
                AttestationValidator.Validate(request, TimeSpan.FromDays(31));
            }
            catch (RpcException e)
            {
                var fields = e.GetRpcStatus()!.GetDetail<BadRequest>().FieldViolations.Select(v => v.Field).ToList();
                return (e.StatusCode == StatusCode.InvalidArgument && mutation.Names(fields)).Label($"{mutation}: {string.Join(", ", fields)}");
            }

            var bytes = AttestationCanonicalForm.Encode(request.Attestation);
            var same = bytes.AsSpan().SequenceEqual(AttestationCanonicalForm.Encode(original));
            // Equal bytes mean an equal attestation (the encoding is injective); the signature then
            // verifies exactly when it was left alone. Other bytes never verify.
            var verifies = AttestationSignature.Verify(bytes, request.Signature.Span, Key);
            return (same ? request.Attestation.Equals(original) && verifies == request.Signature.Span.SequenceEqual(signature) : !verifies).Label(mutation.ToString());
        });

    /// <summary>The same mutations against the running service: a precise status, and nothing stored, logged or counted.</summary>
    [Property(MaxTest = 40)]
    public Property Mutation_SubmittedToTheService_IsRefusedPreciselyAndStoresNothing() =>
        Prop.ForAll(Arb.From(Mutations()), mutation =>
        {
            var server = fixture.Server;
            var provider = Provider.Value.GetAwaiter().GetResult();
            var original = provider.Attestation();
            var request = provider.Sign(original.Clone());
            var signature = request.Signature;
            mutation.Apply(request);
            var before = server.SnapshotAsync().GetAwaiter().GetResult();
            try
            {
                var receipt = server.Client.SubmitAttestation(request, server.AuthFor(provider)).Receipt;
                // Accepted only when nothing the signature covers changed.
                var accepted = receipt.Outcome == V1.Outcome.Accepted && request.Attestation.Equals(original) && request.Signature == signature;
                return accepted.Label($"{mutation}: accepted");
            }
            catch (RpcException e)
            {
                var after = server.SnapshotAsync().GetAwaiter().GetResult();
                var expected = Expected(mutation, request, original, signature);
                var reason = e.GetRpcStatus()?.GetDetail<ErrorInfo>()?.Reason;
                var fields = e.GetRpcStatus()?.GetDetail<BadRequest>()?.FieldViolations.Select(v => v.Field).ToList() ?? [];
                var precise = e.StatusCode == expected.Code && expected.Code switch
                {
                    StatusCode.PermissionDenied => true,
                    _ when expected.Reason is null => mutation.Names(fields),
                    _ => reason == expected.Reason,
                };
                return (precise && before == after).Label($"{mutation}: {e.StatusCode} {reason} [{string.Join(", ", fields)}], expected {expected}");
            }
        });

    private readonly Lazy<Task<TestProvider>> _provider = new(() => fixture.Server.RegisterProviderAsync(count: 100_000));

    private Lazy<Task<TestProvider>> Provider => _provider;

    // What the service answers a mutated request whose shape is valid (in the order it checks).
    private static (StatusCode Code, string? Reason) Expected(Mutation mutation, SubmitAttestationRequest request, UsageAttestation original, ByteString signature)
    {
        try
        {
            AttestationValidator.Validate(request, TimeSpan.FromDays(31));
        }
        catch (RpcException)
        {
            return (StatusCode.InvalidArgument, null);
        }

        var a = request.Attestation;
        if (a.ProviderId != original.ProviderId || a.MarketplaceId != original.MarketplaceId)
        {
            return (StatusCode.PermissionDenied, null);
        }

        if (request.KeyId != "key-1")
        {
            return (StatusCode.FailedPrecondition, ReasonCodes.KeyUnknown);
        }

        return (StatusCode.InvalidArgument, ReasonCodes.SignatureInvalid);
    }

    private static UsageAttestation Valid(string providerId) => new()
    {
        AttestationId = "att-1",
        MarketplaceId = "mkt-1",
        ProviderId = providerId,
        LeaseId = "lease-1",
        AccountId = "acct-1",
        AcceleratorModel = "H100-SXM",
        AcceleratorCount = 8,
        IntervalStart = Timestamp.FromDateTimeOffset(Base.AddHours(-1)),
        IntervalEnd = Timestamp.FromDateTimeOffset(Base),
        Final = true,
        FlopUnits = 8_544_960,
        Precision = PrecisionClass.Bf16,
        WorkloadCommitment = new string('a', 64),
        WorkloadClass = WorkloadClass.Training,
        SignedAt = Timestamp.FromDateTimeOffset(Base.AddSeconds(5)),
        Sequence = 42,
    };

    /// <summary>A change to one field; a refusal must name one of <paramref name="ExpectedFields"/>.</summary>
    public sealed record Mutation(string[] ExpectedFields, string Description, Action<SubmitAttestationRequest> Apply)
    {
        public Mutation(string expectedField, string description, Action<SubmitAttestationRequest> apply)
            : this([expectedField], description, apply)
        {
        }

        public bool Names(IEnumerable<string> fields) => fields.Intersect(ExpectedFields).Any();

        public override string ToString() => Description;
    }

    private static Gen<Mutation> Mutations()
    {
        var badIds = Gen.OneOf(Ids(), Gen.Constant(""), Gen.Constant(new string('a', 129)), Gen.Constant("a b"), Gen.Constant("a\nfinal=false"), Gen.Constant("é"));
        Gen<Mutation> Text(string field, Action<UsageAttestation, string> set) =>
            badIds.Select(v => new Mutation("attestation." + field, $"{field}={v}", r => set(r.Attestation, v)));
        // A bad bound names itself; a bound that makes the interval wrong names interval_end.
        Gen<Mutation> Time(string field, Action<UsageAttestation, Timestamp?> set) =>
            from offset in Gen.Choose(-40 * 86400, 40 * 86400)
            from nanos in Gen.Elements(0, 0, 0, 500_000_000)
            from missing in Gen.Elements(false, false, false, false, true)
            select new Mutation(["attestation." + field, "attestation.interval_end"], $"{field}{(missing ? " missing" : $"+={offset}s nanos={nanos}")}",
                r => set(r.Attestation, missing ? null : new Timestamp { Seconds = (Base + TimeSpan.FromSeconds(offset)).ToUnixTimeSeconds(), Nanos = nanos }));

        return Gen.OneOf(
            Text("attestation_id", (a, v) => a.AttestationId = v),
            Text("marketplace_id", (a, v) => a.MarketplaceId = v),
            Text("provider_id", (a, v) => a.ProviderId = v),
            Text("lease_id", (a, v) => a.LeaseId = v),
            Text("account_id", (a, v) => a.AccountId = v),
            Text("accelerator_model", (a, v) => a.AcceleratorModel = v),
            Gen.Choose(-3, 100_005).Select(v => new Mutation("attestation.accelerator_count", $"count={v}", r => r.Attestation.AcceleratorCount = v)),
            Time("interval_start", (a, v) => a.IntervalStart = v),
            Time("interval_end", (a, v) => a.IntervalEnd = v),
            Time("signed_at", (a, v) => a.SignedAt = v),
            Gen.Constant(new Mutation("attestation.final", "final flipped", r => r.Attestation.Final = !r.Attestation.Final)),
            Gen.Choose(-1000, 1000).Select(v => new Mutation("attestation.flop_units", $"flop+={v}", r => r.Attestation.FlopUnits += v)),
            Gen.Choose(-1, 8).Select(v => new Mutation("attestation.precision", $"precision={v}", r => r.Attestation.Precision = (PrecisionClass)v)),
            Gen.Choose(-1, 7).Select(v => new Mutation("attestation.workload_class", $"workload_class={v}", r => r.Attestation.WorkloadClass = (WorkloadClass)v)),
            Gen.OneOf(Gen.Constant(new string('b', 64)), Gen.Constant(new string('A', 64)), Gen.Constant(new string('a', 63)), Gen.Constant(""))
                .Select(v => new Mutation("attestation.workload_commitment", $"commitment={v}", r => r.Attestation.WorkloadCommitment = v)),
            Gen.Choose(-2, 5).Select(v => new Mutation("attestation.sequence", $"sequence+={v}", r => r.Attestation.Sequence = v <= 0 ? v : r.Attestation.Sequence + v)),
            badIds.Select(v => new Mutation("key_id", $"key_id={v}", r => r.KeyId = v)),
            Gen.Choose(0, 70).Select(n => new Mutation("signature", $"signature of {n} bytes", r => r.Signature = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(n)))));
    }

    // The reverse of the canonical form, written independently: header, then name=value lines in order.
    private static UsageAttestation Decode(byte[] bytes)
    {
        var lines = Encoding.UTF8.GetString(bytes).Split('\n');
        Assert.Equal("oversight.attestation.v1", lines[0]);
        Assert.Equal("", lines[^1]);
        var values = lines[1..^1].Select(l => l.Split('=', 2)).ToList();
        Assert.Equal(AttestationCanonicalForm.FieldOrder, values.Select(v => v[0]));
        string V(int i) => values[i][1];
        Timestamp T(int i) => Timestamp.FromDateTimeOffset(DateTimeOffset.ParseExact(V(i), "yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal));
        TEnum E<TEnum>(int i, string prefix) where TEnum : struct, System.Enum =>
            System.Enum.GetValues<TEnum>().Single(e => e.GetType().GetField(e.ToString())!.GetCustomAttributes(typeof(Google.Protobuf.Reflection.OriginalNameAttribute), false)
                .Cast<Google.Protobuf.Reflection.OriginalNameAttribute>().Single().Name == prefix + V(i));
        return new UsageAttestation
        {
            AttestationId = V(0),
            MarketplaceId = V(1),
            ProviderId = V(2),
            LeaseId = V(3),
            AccountId = V(4),
            AcceleratorModel = V(5),
            AcceleratorCount = int.Parse(V(6), CultureInfo.InvariantCulture),
            IntervalStart = T(7),
            IntervalEnd = T(8),
            Final = V(9) switch { "true" => true, "false" => false, _ => throw new FormatException(V(9)) },
            FlopUnits = long.Parse(V(10), CultureInfo.InvariantCulture),
            Precision = E<PrecisionClass>(11, "PRECISION_CLASS_"),
            WorkloadCommitment = V(12),
            WorkloadClass = E<WorkloadClass>(13, "WORKLOAD_CLASS_"),
            SignedAt = T(14),
            Sequence = long.Parse(V(15), CultureInfo.InvariantCulture),
        };
    }
}
