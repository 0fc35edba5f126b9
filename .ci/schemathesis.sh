#!/usr/bin/env bash
# Schemathesis against a LIVE gateway: `guichet simulate` + `guichet serve` on a config
# written into a temporary folder, with a temporary COPY of adapters/ (the write routes
# PUT/DELETE/rollback change that copy, never the repository), high quotas, loopback ports
# below 32768. One run per role certificate (portal, office, admin), all checks, all
# phases; any failure fails CI. Usage: .ci/schemathesis.sh [path/to/guichet]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

SCHEMATHESIS_VERSION=4.32.5        # pinned: new releases add checks; upgrade on purpose
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-30}
GATEWAY_PORT=${GUICHET_ST_PORT:-24443}
OPS_PORT=${GUICHET_ST_OPS_PORT:-24464}
bin=${1:-target/release/guichet}
[ -x "$bin" ] || cargo build --release --locked
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

tmp=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

venv=${SCHEMATHESIS_VENV:-$tmp/venv}
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

mkdir -p "$tmp/config"
cp -R adapters "$tmp/adapters"
cat > "$tmp/config/guichet.toml" <<TOML
[server]
listen = "127.0.0.1:$GATEWAY_PORT"
cert = "../certs/gateway-server.pem"
key = "../certs/gateway-server.key"
client_ca = "../certs/federation-ca.pem"
grace_period_ms = 1000

[offices]
adapters = "../adapters"
mappings = "$repo/mappings"
ca = "../certs/federation-ca.pem"
client_cert = "../certs/gateway-client.pem"
client_key = "../certs/gateway-client.key"
deadline_ms = 2000
sender_id = "T6-000000-1"
participant_prefix = "T6"
test_delivery = true
allow_loopback = true

[simulator]
certs = "../certs/offices"
latency_median_ms = 1
latency_p99_ms = 5

[protection]
cache_ttl_ms = 10000
cache_max_bytes = 67108864
max_queries_in_flight = 512
portal_queries_per_second = 100000
portal_burst = 100000

[privacy]
purposes = ["self-service", "pension-calculation", "benefit-review"]

[privacy.portals]
demo = ["self-service", "pension-calculation", "benefit-review"]

[identity]
audience = "urn:guichet:gateway:guichet"

[[identity.issuers]]
issuer = "https://idp.dev.guichet.invalid"
jwks = "../certs/idp-jwks.json"
acr = ["urn:guichet:acr:substantial"]

[audit]
dir = "../audit"
hmac_key_file = "../certs/audit-hmac.key"

[seal]
cert = "../certs/seal-guichet.pem"
key = "../certs/seal-guichet.key"
ca = "../certs/federation-ca.pem"

[messages]
active_key = "dev-1"

[messages.keys]
dev-1 = "../certs/messages-dev-1.key"

[admin]
listen = "127.0.0.1:$OPS_PORT"
TOML

cfg="$tmp/config/guichet.toml"
"$bin" simulate --config "$cfg" --zero-latency > "$tmp/simulate.log" 2>&1 &
pids+=($!)
certs="$tmp/certs"
for _ in $(seq 1 300); do [ -f "$certs/admin-ops.key" ] && [ -f "$certs/idp-jwks.json" ] && break; sleep 0.1; done
"$bin" serve --config "$cfg" > "$tmp/serve.log" 2>&1 &
pids+=($!)
python3 - "$GATEWAY_PORT" "$certs" <<'PY' || { tail -n 20 "$tmp/serve.log"; exit 1; }
import socket, ssl, sys, time
port, certs = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=f"{certs}/federation-ca.pem")
ctx.load_cert_chain(f"{certs}/admin-ops.pem", f"{certs}/admin-ops.key")
for _ in range(600):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                t.sendall(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
                if t.recv(64).startswith(b"HTTP/1.1 200"):
                    sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit("the gateway did not come up")
PY

# The simulated office a PUT's conformance probe is sent to (see the hooks file).
export GUICHET_PROBE_ENDPOINT=$(sed -n 's/^endpoint = "\(.*\)"$/\1/p' "$tmp/adapters/025.000.toml")
# End-user tokens for self-service cases, minted by the development identity provider.
export GUICHET_BIN="$bin" GUICHET_TOKEN_KEY="$certs/idp-signing.key" GUICHET_TOKEN_CERT="$certs/portal-demo.pem"
export SCHEMATHESIS_HOOKS=schemathesis_hooks
export PYTHONPATH="$repo/.ci"

status=0
for who in portal-demo:portal offices/025.000:office admin-ops:admin; do
    stem=${who%%:*}
    echo "== schemathesis as ${who##*:} ($stem)"
    "$venv/bin/schemathesis" --config-file .ci/schemathesis.toml run src/server/openapi.json \
        --url "https://127.0.0.1:$GATEWAY_PORT" \
        --checks all --exclude-checks ignored_auth,missing_required_header --phases examples,coverage,fuzzing,stateful \
        --max-examples "$MAX_EXAMPLES" --seed "${SCHEMATHESIS_SEED:-1}" --workers 1 \
        --request-cert "$certs/$stem.pem" --request-cert-key "$certs/$stem.key" \
        --tls-verify "$certs/federation-ca.pem" \
        --suppress-health-check too_slow \
        || status=$?
done
if [ "$status" -ne 0 ]; then
    echo "-- serve.log (tail)"; tail -n 40 "$tmp/serve.log"
fi
exit "$status"
