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
# The same image migrates its database and exits when given the argument `migrate`
# (the Helm chart's migration Job): docker run --rm -e ... oversight/kyc migrate

ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
ARG SERVICE=kyc
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY protos/ protos/
COPY services/ services/
# SERVICE -> host project and assembly (ENTRYPOINT runs /app/<assembly>, which also has the
# `migrate` mode; the host references its migrations assemblies, so they are published too).
RUN set -eu; \
    case "$SERVICE" in \
      kyc)         project=services/kyc/Oversight.Kyc.Host/Oversight.Kyc.Host.csproj; assembly=Oversight.Kyc.Host;; \
      attestation) project=services/attestation/Oversight.Attestation.Host/Oversight.Attestation.Host.csproj; assembly=Oversight.Attestation.Host;; \
      enforcement) project=services/enforcement/Oversight.Enforcement.Host/Oversight.Enforcement.Host.csproj; assembly=Oversight.Enforcement.Host;; \
      allinone)    project=services/host/Oversight.AllInOne/Oversight.AllInOne.csproj; assembly=oversight;; \
      *) echo "unknown SERVICE '$SERVICE' (kyc, attestation, enforcement, allinone)" >&2; exit 1 ;; \
    esac; \
    dotnet restore "$project"; \
    dotnet publish "$project" -c Release --no-restore -o /app -p:UseAppHost=true; \
    test -f "/app/$assembly.dll"; \
    ls /app/*.Migrations.Postgres.dll /app/*.Migrations.Sqlite.dll >/dev/null; \
    ln -s "/app/$assembly" /app/oversight-service

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
