#!/usr/bin/env bash
# Load test across three gateway replicas, one killed (SIGKILL) and restarted midway.
#
#   deploy/loadtest/replicas.sh [OUT]        (default OUT: out/replicas)
#
# Environment: GUICHET (the binary, default target/debug/guichet), DURATION (measured
# seconds, default 30), CONCURRENCY (closed-loop workers, default 16), KILL_AT and
# RESTART_AT (seconds into the measured phase, default 10 and 18), WARMUP (seconds, default
# 10: the replicas open their office connections), STORE_URL (absent: each replica its own
# SQLite store; `postgres://…` on loopback: the three replicas on one fresh schema of that
# database, created here and dropped at the end; needs psql).
#
# What it does, all on loopback: `guichet bench` prepares a federation (dev PKI, the 101
# adapters on free ports, a gateway configuration) and runs a 1 s smoke load; then the
# simulated offices (`guichet simulate --zero-latency`) and three `guichet serve`
# replicas start, each with its own ports, replica id (r1, r2, r3) and audit log, and
# either its own SQLite store or the shared PostgreSQL schema (then they form a cluster:
# shared outbox, evictions, portal quota shares). `guichet loadtest` spreads its
# connections over the three; replica 2 is killed with SIGKILL at KILL_AT and started
# again at RESTART_AT. The replicas' RSS and CPU are sampled every second (footprint.tsv).
# At the end the replicas stop (SIGTERM) and `guichet audit verify` checks the three audit
# folders (audit-verify.txt; the script fails if a chain is not intact). The summary
# prints the throughput and p99 before, during and after, and the errors (0 expected:
# every query that met the dead replica is retried on another). Every step is bounded in
# time: the preparation 15 min, the load WARMUP + DURATION + 2 min, each stop 30 s.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN="${GUICHET:-target/debug/guichet}"
OUT="$(realpath -m "${1:-out/replicas}")"
DURATION="${DURATION:-30}"
CONCURRENCY="${CONCURRENCY:-16}"
KILL_AT="${KILL_AT:-10}"
RESTART_AT="${RESTART_AT:-18}"
WARMUP="${WARMUP:-10}"
STORE_URL="${STORE_URL:-}"

SCHEMA=""
if [ -n "$STORE_URL" ]; then
  # Loopback only (or a local socket): this script never reaches another machine.
  python3 - "$STORE_URL" <<'EOF' || exit 2
import sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
if u.scheme not in ("postgres", "postgresql"):
    sys.exit(f"STORE_URL must be postgres://…, not {u.scheme}://")
if u.hostname not in (None, "", "127.0.0.1", "localhost", "::1"):
    sys.exit(f"STORE_URL must name a loopback host, not {u.hostname}")
EOF
  command -v psql >/dev/null || { echo "STORE_URL needs psql (to create and drop the schema)" >&2; exit 2; }
  SCHEMA="guichet_loadtest_$(date +%s)_$$"
fi

rm -rf "$OUT"
mkdir -p "$OUT/logs"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$SCHEMA" ]; then
    PGOPTIONS="-c client_min_messages=warning" \
      psql "$STORE_URL" -v ON_ERROR_STOP=1 -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" \
      && echo "== schema $SCHEMA dropped"
  fi
}
trap cleanup EXIT

if [ -n "$SCHEMA" ]; then
  psql "$STORE_URL" -v ON_ERROR_STOP=1 -qc "CREATE SCHEMA $SCHEMA"
  echo "== store: PostgreSQL, fresh schema $SCHEMA (the three replicas share it)"
else
  echo "== store: one SQLite file per replica"
fi

echo "== preparing the federation (guichet bench, 1 s smoke load)"
timeout 900 "$BIN" bench --out "$OUT/prep" --levels 1 --rate 0 --duration 1s --warmup 0s --no-peer \
  --population 10 >"$OUT/logs/prep.log" 2>&1
FED="$OUT/prep/federation"
CERTS="$FED/certs"

free_ports() {
  python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
read -r -a PORTS <<<"$(free_ports 6)"

GUICHET_LOG=warn "$BIN" simulate --zero-latency --config "$FED/guichet.toml" \
  >"$OUT/logs/simulate.log" 2>&1 &
PIDS+=($!)

declare -A SERVE_PID
start_replica() {
  local i="$1" dir="$OUT/r$1"
  local port="${PORTS[$(( (i - 1) * 2 ))]}" ops="${PORTS[$(( (i - 1) * 2 + 1 ))]}"
  if [ ! -f "$dir/guichet.toml" ]; then
    mkdir -p "$dir"
    sed -e "s|^listen = \"127.0.0.1:[0-9]*\"|listen = \"127.0.0.1:$port\"|" \
        -e "s|^\[server\]\$|[server]\nreplica_id = \"r$i\"|" \
        -e "s|^dir = \".*\"|dir = \"$dir/audit\"|" "$FED/guichet.toml" >"$dir/guichet.toml"
    printf '\n[admin]\nlisten = "127.0.0.1:%s"\n' "$ops" >>"$dir/guichet.toml"
    if [ -n "$SCHEMA" ]; then
      printf '\n[store]\nurl = "%s"\nschema = "%s"\n' "$STORE_URL" "$SCHEMA" >>"$dir/guichet.toml"
    fi
  fi
  GUICHET_LOG=warn "$BIN" serve --config "$dir/guichet.toml" >>"$OUT/logs/serve-$i.log" 2>&1 &
  SERVE_PID[$i]=$!
  echo "$!" >"$dir/pid"
  PIDS+=($!)
}
wait_ready() {
  local ops="${PORTS[$(( ($1 - 1) * 2 + 1 ))]}"
  for _ in $(seq 300); do
    curl -fsS "http://127.0.0.1:$ops/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "replica $1 not ready after 30 s (see $OUT/logs/serve-$1.log)" >&2
  return 1
}
for i in 1 2 3; do start_replica "$i"; done
for i in 1 2 3; do wait_ready "$i"; done
echo "== three replicas ready: ${PORTS[0]} ${PORTS[2]} ${PORTS[4]}"

# Footprint: RSS (KiB) and CPU seconds of each replica, every second.
sample() {
  trap - EXIT # a background subshell: the cleanup is the main shell's
  echo -e "t\treplica\tpid\trss_kib\tcpu_s" >"$OUT/footprint.tsv"
  local t=0
  while true; do
    for i in 1 2 3; do
      local pid
      pid="$(cat "$OUT/r$i/pid")"
      [ -r "/proc/$pid/status" ] || continue
      local rss cpu
      rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$pid/stat" 2>/dev/null || echo 0)
      echo -e "$t\t$i\t$pid\t$rss\t$cpu" >>"$OUT/footprint.tsv"
    done
    sleep 1
    t=$((t + 1))
  done
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
TARGETS="https://127.0.0.1:${PORTS[0]},https://127.0.0.1:${PORTS[2]},https://127.0.0.1:${PORTS[4]}"
timeout $((WARMUP + DURATION + 120)) "$BIN" loadtest --target "$TARGETS" --cert "$CERTS/portal-demo.pem" --key "$CERTS/portal-demo.key" \
  --ca "$CERTS/federation-ca.pem" --token-key "$CERTS/idp-signing.key" --http1 \
  --concurrency "$CONCURRENCY" --duration "${DURATION}s" --warmup "${WARMUP}s" \
  --population 10000 --quiet --report "$OUT/report" >"$OUT/summary.txt" 2>"$OUT/logs/loadtest.log" &
LOADTEST=$!
PIDS+=($LOADTEST)
sample &
SAMPLER=$!
PIDS+=($SAMPLER)

sleep $((WARMUP + KILL_AT))
kill -9 "${SERVE_PID[2]}"
echo "== replica 2 killed (SIGKILL) at ${KILL_AT} s"
sleep $((RESTART_AT - KILL_AT))
start_replica 2
echo "== replica 2 started again at ${RESTART_AT} s"
READY_FROM=$(date +%s.%N)
wait_ready 2
READY_AT=$(python3 -c "import sys; print(round($RESTART_AT + $(date +%s.%N) - $READY_FROM, 1))")
echo "== replica 2 ready again at ${READY_AT} s"
wait "$LOADTEST"
kill "$SAMPLER" 2>/dev/null || true
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# The replicas stop as on a node drain (SIGTERM: drain, sign the audit head); then their
# three chains are verified, replica 2's across its SIGKILL and restart.
for i in 1 2 3; do kill -TERM "${SERVE_PID[$i]}" 2>/dev/null || true; done
for i in 1 2 3; do
  pid="${SERVE_PID[$i]}"
  for _ in $(seq 300); do # until it has exited (a zombie until reaped below), 30 s at most
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    { [ -z "$state" ] || [ "$state" = Z ]; } && break
    sleep 0.1
  done
  if [ -n "$state" ] && [ "$state" != Z ]; then
    echo "replica $i still running 30 s after SIGTERM: killed" >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
  status=0
  wait "$pid" || status=$?
  echo "== replica $i stopped (exit status $status)"
done
AUDIT_OK=0
timeout 300 "$BIN" audit verify "$OUT/r1/audit" "$OUT/r2/audit" "$OUT/r3/audit" \
  --public-key "$FED/audit-checkpoint.pub" >"$OUT/audit-verify.txt" 2>&1 || AUDIT_OK=$?

STORE="${SCHEMA:+PostgreSQL (one schema)}"
python3 - "$OUT" "$KILL_AT" "$READY_AT" "$LOAD_BEFORE" "$LOAD_AFTER" "$BIN" "${STORE:-SQLite (one per replica)}" <<'EOF'
import json, sys
out, kill_at, ready_at, before, after, binary, store = sys.argv[1:]
kill_at, ready_at = float(kill_at), float(ready_at)
r = json.load(open(f"{out}/report/report.json"))
print(f"store: {store}")
def phase(name, lo, hi):
    s = [x for x in r["timeline"] if lo <= x["second"] < hi]
    n = sum(x["requests"] for x in s)
    e = sum(x["errors"] for x in s)
    p99 = max((x["p99_ms"] for x in s), default=0.0)
    print(f"| {name} | {int(lo)}–{int(hi)} s | {n / max(len(s), 1):.1f} | {p99:.1f} | {e} |")
print(f"binary: {binary}; load average before {before}, after {after}")
print(f"requests {r['measured']}, errors {sum(r['errors'].values())}, retries {r.get('retries', 0)}, "
      f"throughput {r['throughput']:.1f}/s, p99 {r['latency']['p99_ms']:.1f} ms overall")
print("| phase | seconds | throughput (req/s) | p99 ms (worst second) | errors |")
print("|---|---|---|---|---|")
phase("before (3 replicas)", 0, kill_at)
phase("during (replica 2 killed, restarting)", kill_at, ready_at)
phase("after (3 replicas again)", ready_at, r["duration_s"])
rows = [l.split("\t") for l in open(f"{out}/footprint.tsv").read().splitlines()[1:]]
# A sample taken while a process was ending may lack its values.
rows = [row for row in rows if len(row) == 5 and row[3].isdigit() and row[4]]
for i in "123":
    for pid in sorted({row[2] for row in rows if row[1] == i}):
        mine = [row for row in rows if row[1] == i and row[2] == pid]
        peak = max(int(row[3]) for row in mine) / 1024
        cpu = max(float(row[4]) for row in mine)
        secs = len(mine)
        print(f"replica {i} (pid {pid}, {secs} s sampled): peak RSS {peak:.0f} MiB, "
              f"CPU {cpu:.1f} s ({100 * cpu / max(secs, 1):.0f} % of a core on average)")
EOF
echo "== guichet audit verify over the three replicas' folders (exit $AUDIT_OK):"
cat "$OUT/audit-verify.txt"
[ "$AUDIT_OK" -eq 0 ] || { echo "audit chains NOT intact" >&2; exit 1; }
