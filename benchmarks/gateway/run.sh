#!/usr/bin/env bash
# Conduit's chat gateway and LiteLLM's proxy, side by side in one run, in front of the same no-op
# OpenAI-compatible upstream on loopback (../shared/bench/gateway): added latency (gateway minus direct),
# throughput, CPU per request and memory, for chat and streaming at 1, 64 and 512 concurrent clients.
#
#   benchmarks/gateway/run.sh [--quick] [--skip-litellm] [--kit DIR] [--out DIR]
#
# Both gateways authenticate every request: LiteLLM with its master key, Conduit with an API key stored
# (hashed) in its SQLite database, as each runs in production. Conduit runs as a chat-only node.
# The kit installs LiteLLM (PyPI) into $HOME/gateway-peers-venv on first use. Prints the kit's tables;
# the JSON lines stay in OUT (default /tmp/gateway-bench/conduit-TIME).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KIT="${KIT:-$ROOT/../shared/bench/gateway}"
OUT="${TMPDIR:-/tmp}/gateway-bench/conduit-$(date +%Y%m%d-%H%M%S)"
QUICK=() LITELLM=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=(--quick); shift;;
    --skip-litellm) LITELLM=0; shift;;
    --kit) KIT="$2"; shift 2;;
    --out) OUT="$2"; shift 2;;
    -h|--help) sed -n '2,11p' "$0"; exit 0;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
[ -f "$KIT/run_gateway_peers.sh" ] || { echo "no gateway kit at $KIT (--kit DIR)" >&2; exit 2; }
mkdir -p "$OUT"
export CONC_CHAT="${CONC_CHAT:-1 64 512}" CONC_STREAM="${CONC_STREAM:-1 64 512}"

echo "== building conduit (release)" >&2
swift build -c release --product conduit --scratch-path "$ROOT/.build-release" >&2
CONDUIT="$ROOT/.build-release/release/conduit"
"$CONDUIT" bench --describe > "$OUT/compute.json"  # the CPU every figure here ran on

DATA="$(mktemp -d)"
trap 'rm -rf "$DATA"' EXIT
cat > "$DATA/models.yaml" <<'YAML'
models:
  - name: noop
    deployments:
      - name: noop-upstream
        base_url: http://127.0.0.1:9100/v1
        model: noop
YAML
KEY="$("$CONDUIT" keys create --name bench --scope chat --data-dir "$DATA" | tail -n 1)"
ADMIN_KEY="$(head -c 48 /dev/urandom | base64 | tr -d '/+=' | head -c 40)"
# Every client of the load generator comes from 127.0.0.1: the per-address connection cap (128 by default,
# against one client taking every connection) is raised past the 512 clients of the largest run.
GATEWAY_CMD="env CONDUIT_SERVER_FEATURES=chat CONDUIT_CHAT_MODELS_FILE=$DATA/models.yaml CONDUIT_AUTH_ADMIN_KEY=$ADMIN_KEY \
  CONDUIT_SERVER_MAX_CONNECTIONS_PER_ADDRESS=2048 CONDUIT_SERVER_MAX_CONNECTIONS=4096 \
  $CONDUIT serve --auth --port 8080 --data-dir $DATA --log-level error"

if [ "$LITELLM" = 1 ]; then
  echo "== LiteLLM (2 workers, one per core) and direct" >&2
  bash "$KIT/run_gateway_peers.sh" --workers "2" --out "$OUT" "${QUICK[@]}"
fi
echo "== Conduit" >&2
bash "$KIT/run_gateway_peers.sh" --gateway-url http://127.0.0.1:8080 --model noop --api-key "$KEY" --name conduit \
  --gateway-cmd "$GATEWAY_CMD" --out "$OUT" $([ "$LITELLM" = 1 ] && echo --no-direct) "${QUICK[@]}"
"${GATEWAY_VENV:-$HOME/gateway-peers-venv}/bin/python" "$KIT/gateway_load.py" --summarize "$OUT/results.jsonl"
