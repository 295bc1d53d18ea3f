using System.Security.Cryptography;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Oversight.Attestation.V1;

namespace Oversight.Attestation.Tests;

public sealed class AttestationServerFixture : IAsyncLifetime
{
    public AttestationServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await AttestationServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// Bad input gets a precise status naming the field or reason, and leaves the ledger, the log,
/// the outbox and the review table as they were. Tests of one class run one at a time, so the
/// snapshots of the shared host are not disturbed.
/// </summary>
public sealed class RefusedAttestationTests(AttestationServerFixture fixture) : IClassFixture<AttestationServerFixture>
{
    private AttestationServer Server => fixture.Server;

    private static Timestamp Ago(TimeSpan t) =>
        Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()) - t);

    public static TheoryData<string, StatusCode, string> Cases => new()
    {
        { "bad signature", StatusCode.InvalidArgument, "SIGNATURE_INVALID" },
        { "short signature", StatusCode.InvalidArgument, "signature" },
        { "unknown provider", StatusCode.NotFound, "PROVIDER_UNKNOWN" },
        { "unknown key", StatusCode.FailedPrecondition, "KEY_UNKNOWN" },
        { "count above inventory", StatusCode.InvalidArgument, "COUNT_ABOVE_INVENTORY" },
        { "count zero", StatusCode.InvalidArgument, "attestation.accelerator_count" },
        { "flop above peak", StatusCode.InvalidArgument, "FLOP_ABOVE_PEAK" },
        { "negative flop", StatusCode.InvalidArgument, "attestation.flop_units" },
        { "end before start", StatusCode.InvalidArgument, "attestation.interval_end" },
        { "zero duration", StatusCode.InvalidArgument, "attestation.interval_end" },
        { "interval too long", StatusCode.InvalidArgument, "attestation.interval_end" },
        { "future interval", StatusCode.InvalidArgument, "INTERVAL_END_IN_FUTURE" },
        { "too old", StatusCode.InvalidArgument, "ATTESTATION_TOO_OLD" },
        { "signed in the future", StatusCode.InvalidArgument, "SIGNED_AT_IN_FUTURE" },
        { "signed before the usage ended", StatusCode.InvalidArgument, "SIGNED_BEFORE_INTERVAL_END" },
        { "unknown accelerator", StatusCode.InvalidArgument, "ACCELERATOR_UNKNOWN" },
        { "model not in inventory", StatusCode.InvalidArgument, "MODEL_NOT_IN_INVENTORY" },
        { "fractional seconds", StatusCode.InvalidArgument, "attestation.interval_start" },
        { "missing signed_at", StatusCode.InvalidArgument, "attestation.signed_at" },
        { "no precision", StatusCode.InvalidArgument, "attestation.precision" },
        { "bad commitment", StatusCode.InvalidArgument, "attestation.workload_commitment" },
        { "zero sequence", StatusCode.InvalidArgument, "attestation.sequence" },
        { "oversized id", StatusCode.InvalidArgument, "attestation.attestation_id" },
        { "id with a line break", StatusCode.InvalidArgument, "attestation.lease_id" },
        { "missing account", StatusCode.InvalidArgument, "attestation.account_id" },
        { "missing key id", StatusCode.InvalidArgument, "key_id" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Submit_BadInput_IsRefusedPreciselyAndStoresNothing(string name, StatusCode code, string fieldOrReason)
    {
        var provider = await Server.RegisterProviderAsync();
        var a = provider.Attestation();
        var key = provider.Key;
        string? keyId = null;
        var signer = provider;
        Func<SubmitAttestationRequest, SubmitAttestationRequest> tamper = r => r;
        switch (name)
        {
            case "bad signature": tamper = r => { r.Signature = ByteString.CopyFrom(new byte[64]); return r; }; break;
            case "short signature": tamper = r => { r.Signature = ByteString.CopyFrom(new byte[63]); return r; }; break;
            case "unknown provider":
                signer = new TestProvider(provider.MarketplaceId, "prov-never-registered", "key-1", provider.Key);
                a.ProviderId = signer.ProviderId;
                break;
            case "unknown key": keyId = "key-9"; break;
            case "count above inventory": a.AcceleratorCount = 9; a.FlopUnits = 1; break;
            case "count zero": a.AcceleratorCount = 0; break;
            case "flop above peak": a.FlopUnits = (8L * 989 * 3600) + 1; break;
            case "negative flop": a.FlopUnits = -1; break;
            case "end before start": (a.IntervalStart, a.IntervalEnd) = (a.IntervalEnd, a.IntervalStart); break;
            case "zero duration": a.IntervalStart = a.IntervalEnd; break;
            case "interval too long": a.IntervalStart = Ago(TimeSpan.FromDays(32)); break;
            case "future interval":
                a.IntervalEnd = Ago(TimeSpan.FromMinutes(-30));
                a.SignedAt = a.IntervalEnd;
                break;
            case "too old":
                a.IntervalStart = Ago(TimeSpan.FromDays(9));
                a.IntervalEnd = Ago(TimeSpan.FromDays(8));
                break;
            case "signed in the future": a.SignedAt = Ago(TimeSpan.FromMinutes(-10)); break;
            case "signed before the usage ended":
                // Within the key's validity (it was registered just now) but 8 minutes before the end.
                a.IntervalEnd = Ago(TimeSpan.FromMinutes(-4));
                a.SignedAt = Ago(TimeSpan.FromMinutes(4));
                break;
            case "unknown accelerator": a.AcceleratorModel = "Z9000"; break;
            case "model not in inventory": a.AcceleratorModel = "A100"; break;
            case "fractional seconds": a.IntervalStart.Nanos = 500_000_000; break;
            case "missing signed_at": a.SignedAt = null; break;
            case "no precision": a.Precision = Common.V1.PrecisionClass.Unspecified; break;
            case "bad commitment": a.WorkloadCommitment = a.WorkloadCommitment.ToUpperInvariant(); break;
            case "zero sequence": a.Sequence = 0; break;
            case "oversized id": a.AttestationId = new string('a', 129); break;
            case "id with a line break": a.LeaseId = "lease\nfinal=false"; break;
            case "missing account": a.AccountId = ""; break;
            case "missing key id": keyId = ""; break;
            default: throw new ArgumentOutOfRangeException(nameof(name), name, null);
        }

        // Malformed attestations cannot always be encoded: sign what can be, send zeros otherwise.
        SubmitAttestationRequest request;
        try
        {
            request = signer.Sign(a, key, keyId);
        }
        catch (ArgumentException)
        {
            request = new SubmitAttestationRequest { Attestation = a, KeyId = keyId ?? provider.KeyId, Signature = ByteString.CopyFrom(new byte[64]) };
        }

        request = tamper(request);
        var before = await Server.SnapshotAsync();

        var e = await Assertions.Refused(code, () => Server.Client.SubmitAttestationAsync(request, Server.AuthFor(signer)).ResponseAsync);

        if (fieldOrReason.Contains('_') && fieldOrReason == fieldOrReason.ToUpperInvariant())
        {
            Assertions.HasReason(e, fieldOrReason);
        }
        else
        {
            Assertions.NamesField(e, fieldOrReason);
        }

        Assert.Equal(before, await Server.SnapshotAsync());
    }

    [Fact]
    public async Task Submit_WithoutAnAttestation_NamesTheField()
    {
        var provider = await Server.RegisterProviderAsync();
        var e = await Assertions.Refused(StatusCode.InvalidArgument, () => Server.Client.SubmitAttestationAsync(
            new SubmitAttestationRequest { KeyId = "key-1", Signature = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(64)) }, Server.AuthFor(provider)).ResponseAsync);
        Assertions.NamesField(e, "attestation");
    }

    [Fact]
    public async Task GetAttestation_OfAnotherMarketplaceOrProvider_IsNotFoundAndWrongRolesAreDenied()
    {
        var provider = await Server.RegisterProviderAsync();
        var sibling = await Server.RegisterProviderAsync(provider.MarketplaceId);
        var a = provider.Attestation();
        await Server.SubmitAsync(provider, a);
        var get = new GetAttestationRequest { AttestationId = a.AttestationId };

        Assert.Equal(a, (await Server.Client.GetAttestationAsync(get, Server.Operator(provider.MarketplaceId))).Attestation);
        Assert.Equal(a, (await Server.Client.GetAttestationAsync(get, Server.Host.Auth("auditor", provider.MarketplaceId))).Attestation);
        Assert.Equal(a, (await Server.Client.GetAttestationAsync(get, Server.Host.Auth("service"))).Attestation);
        await Assertions.Refused(StatusCode.NotFound, () => Server.Client.GetAttestationAsync(get, Server.Operator("mkt-other")).ResponseAsync);
        await Assertions.Refused(StatusCode.NotFound, () => Server.Client.GetAttestationAsync(get, Server.AuthFor(sibling)).ResponseAsync);
        await Assertions.Refused(StatusCode.PermissionDenied, () => Server.Client.GetAttestationAsync(get, Server.Host.Auth("compliance", provider.MarketplaceId)).ResponseAsync);
        var e = await Assertions.Refused(StatusCode.InvalidArgument, () => Server.Client.GetAttestationAsync(new GetAttestationRequest(), Server.Operator(provider.MarketplaceId)).ResponseAsync);
        Assertions.NamesField(e, "attestation_id");
    }
}
