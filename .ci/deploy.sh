#!/usr/bin/env bash
# Offline checks of deploy/ (called by .ci/run; nothing here talks to a cluster):
# - the Kubernetes manifests against the API's schemas: kubernetes-validate (pinned, from
#   PyPI, in a venv), strict (unknown fields refused);
# - the Prometheus alert rules: `promtool check rules` and `promtool test rules` (promtool
#   from Debian's `prometheus` package, installed when missing);
# - the Grafana dashboard: well-formed JSON (python3 -m json.tool).
# That the dashboard and the alerts name only metrics the gateway exports, and that the
# ConfigMap is a configuration the gateway accepts, is tests/deploy.rs (cargo test).
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VALIDATE_VERSION=1.37.0
# The oldest Kubernetes the manifests are meant for (preStop `sleep` needs 1.30).
KUBERNETES_VERSION=1.31.0

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v promtool >/dev/null; then
  echo "promtool missing: installing Debian's prometheus package"
  # .ci/run has updated the package lists already; update only if that was not enough.
  install_promtool() {
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends prometheus >/dev/null
  }
  install_promtool || {
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    install_promtool
  }
fi
promtool --version | head -n 1

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
venv="${KUBERNETES_VALIDATE_VENV:-$tmp/venv}"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  # Pinned with its dependencies, so that a new release cannot change the verdict.
  "$venv/bin/pip" install --quiet \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
    "jsonschema==4.26.0" "jsonschema-specifications==2025.9.1" "referencing==0.37.0" \
    "rpds-py==2026.9.1" "attrs==26.1.0" "PyYAML==6.0.4" "packaging==26.4" \
    "importlib_resources==7.1.0" "typing_extensions==4.16.0"
fi

echo "-- kubernetes manifests (Kubernetes $KUBERNETES_VERSION, strict)"
"$venv/bin/kubernetes-validate" --strict --kubernetes-version "$KUBERNETES_VERSION" \
  deploy/kubernetes/*.yaml

echo "-- prometheus rules"
promtool check rules deploy/prometheus/alerts.yml
(cd deploy/prometheus && promtool test rules alerts.test.yml)

echo "-- grafana dashboard"
python3 -m json.tool deploy/grafana/guichet.json >/dev/null
echo "deploy/grafana/guichet.json: valid JSON"
