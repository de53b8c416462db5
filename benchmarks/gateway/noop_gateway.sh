# Sourced by the gateway benchmarks: the kit's no-op upstream on port 9100, and Conduit in front of it on
# port 8080 (authentication on, chat only, a fresh SQLite store), serving the model `noop`.
#
#   source benchmarks/gateway/noop_gateway.sh      # sets ROOT, KIT, PY, WORK; starts the upstream (UPSTREAM)
#   start_gateway BIN                              # sets KEY and SERVER; returns once it answers
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KIT="${KIT:-$ROOT/../shared/bench/gateway}"
PY="${GATEWAY_VENV:-$HOME/gateway-peers-venv}/bin/python"
WORK="$(mktemp -d)"
cat > "$WORK/models.yaml" <<'YAML'
models:
  - name: noop
    deployments:
      - base_url: http://127.0.0.1:9100/v1
        model: noop
YAML
"$PY" "$KIT/noop_upstream.py" --port 9100 > "$WORK/upstream.log" 2>&1 &
UPSTREAM=$!
trap 'kill $UPSTREAM ${SERVER:-} 2>/dev/null; rm -rf "$WORK"' EXIT

start_gateway() {  # bin
    rm -rf "$WORK/data"; mkdir -p "$WORK/data"
    KEY="$("$1" keys create --name bench --scope chat --data-dir "$WORK/data" 2>/dev/null | tail -n 1)"
    env CONDUIT_SERVER_FEATURES=chat CONDUIT_CHAT_MODELS_FILE="$WORK/models.yaml" \
        CONDUIT_AUTH_ADMIN_KEY="$(head -c 30 /dev/urandom | base64 | tr -d '/+=')" \
        "$1" serve --auth --port 8080 --data-dir "$WORK/data" --log-level error > "$WORK/conduit.log" 2>&1 &
    SERVER=$!
    until curl -fs -o /dev/null -H "Authorization: Bearer $KEY" http://127.0.0.1:8080/v1/models; do sleep 0.2; done
}
