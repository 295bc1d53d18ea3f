# syntax=docker/dockerfile:1.7
# One parameterised image per Oversight host, built from the repository root:
#   docker build --build-arg SERVICE=kyc         -t oversight/kyc .
#   docker build --build-arg SERVICE=attestation -t oversight/attestation .
#   docker build --build-arg SERVICE=enforcement -t oversight/enforcement .
#   docker build --build-arg SERVICE=allinone    -t oversight/allinone .
# Images are built on a Docker host or in hosted CI (this repository's CI machine has no
# Docker engine; tests/Oversight.Deployment.Tests checks this file statically).
#
# The image runs as the non-root user 10001 and works with a read-only root file system:
# it writes only to /tmp (mount an emptyDir/tmpfs) and /data (the data volume).
# /app/migrate is an EF Core migration bundle for the service's PostgreSQL database
# (used by the Helm chart's migration Job; not present for SERVICE=allinone).

ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
ARG SERVICE=kyc
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props dotnet-tools.json ./
COPY protos/ protos/
COPY services/ services/
# SERVICE -> host project, assembly (ENTRYPOINT runs /app/<assembly>) and EF DbContext.
RUN set -eu; \
    case "$SERVICE" in \
      kyc)         project=services/kyc/Oversight.Kyc.Host/Oversight.Kyc.Host.csproj; assembly=Oversight.Kyc.Host; context=KycDbContext; section=Kyc ;; \
      attestation) project=services/attestation/Oversight.Attestation.Host/Oversight.Attestation.Host.csproj; assembly=Oversight.Attestation.Host; context=AttestationDbContext; section=Attestation ;; \
      enforcement) project=services/enforcement/Oversight.Enforcement.Host/Oversight.Enforcement.Host.csproj; assembly=Oversight.Enforcement.Host; context=EnforcementDbContext; section=Enforcement ;; \
      allinone)    project=services/host/Oversight.AllInOne/Oversight.AllInOne.csproj; assembly=oversight; context=; section= ;; \
      *) echo "unknown SERVICE '$SERVICE' (kyc, attestation, enforcement, allinone)" >&2; exit 1 ;; \
    esac; \
    dotnet restore "$project"; \
    dotnet publish "$project" -c Release --no-restore -o /app -p:UseAppHost=true; \
    test -f "/app/$assembly.dll"; \
    ln -s "/app/$assembly" /app/oversight-service; \
    if [ -n "$context" ]; then \
      dotnet tool restore; \
      export "Oversight__${section}__Database__Provider=Postgres" \
             "Oversight__${section}__Database__ConnectionString=Host=design-time;Database=design-time"; \
      dotnet ef migrations bundle --project "$project" --startup-project "$project" \
        --context "$context" --configuration Release --output /app/migrate --force; \
    fi

FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS runtime
ARG SERVICE=kyc
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="oversight-${SERVICE}" \
      org.opencontainers.image.description="Oversight ${SERVICE} gRPC service" \
      org.opencontainers.image.vendor="Oversight" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/oversight/oversight" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION}"
ENV ASPNETCORE_ENVIRONMENT=Production \
    DOTNET_EnableDiagnostics=0 \
    DOTNET_gcServer=1 \
    TMPDIR=/tmp \
    Oversight__Hosting__BindAddress=0.0.0.0 \
    Oversight__Hosting__DataDirectory=/data
WORKDIR /app
COPY --from=build --chown=0:0 /app/ /app/
RUN mkdir -p /data && chown 10001:10001 /data
VOLUME ["/data", "/tmp"]
USER 10001:10001
ENTRYPOINT ["/app/oversight-service"]
