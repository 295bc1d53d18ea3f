using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Oversight.Hosting;
using Oversight.Hosting.Data;
using Oversight.Kyc.Data;

namespace Oversight.Kyc;

public static class KycExtensions
{
    public const string ServiceName = "Kyc";

    /// <summary>Adds the KYC tiering service: its database, gRPC service and consumers.</summary>
    public static WebApplicationBuilder AddKyc(this WebApplicationBuilder builder)
    {
        builder.AddOversightDatabase<KycDbContext>(ServiceName);
        builder.Services.AddGrpcHealthName(V1.KycTiering.Descriptor.FullName);
        return builder;
    }

    public static WebApplication MapKyc(this WebApplication app)
    {
        app.MapGrpcService<KycTieringService>();
        return app;
    }
}
