#!/usr/bin/env bash
# The server's CPU per request, one client at a time (wrk -c1), on routes of growing depth: /health/live
# (the middleware and HTTP stack every request pays), GET /v1/models (with a key's authentication), and
# POST /v1/chat/completions through to the kit's no-op upstream (the gateway's own work on top), with the
# upstream called directly for reference. The CPU is the server process's, read from /proc around each run.
#
#   BIN=.build-release/release/conduit DUR=5 bash benchmarks/gateway/cpu_per_request.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/noop_gateway.sh"
BIN="${BIN:-$ROOT/.build-release/release/conduit}" DUR="${DUR:-5}"
cat > "$WORK/chat.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"noop","messages":[{"role":"user","content":"hello there, how are you?"}],"max_tokens":16}'
wrk.headers["Content-Type"] = "application/json"
LUA
start_gateway "$BIN"
ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
measure() {  # name, then wrk's arguments
  local name=$1; shift
  local before output after
  before=$(ticks); output=$(wrk -t1 -c1 -d"${DUR}s" --latency "$@"); after=$(ticks)
  local requests p50
  requests=$(awk '/requests in/ {print $1}' <<<"$output"); p50=$(awk '/ 50%/ {print $2}' <<<"$output")
  python3 -c "import os, sys; ticks = os.sysconf('SC_CLK_TCK'); print(f'{sys.argv[1]}: {int(sys.argv[2])} requests, p50 {sys.argv[3]}, server CPU {(float(sys.argv[5]) - float(sys.argv[4])) / ticks / int(sys.argv[2]) * 1e6:.1f} us/request')" \
    "$name" "$requests" "$p50" "$before" "$after"
}
measure "GET /health/live" http://127.0.0.1:8080/health/live
measure "GET /v1/models" -H "Authorization: Bearer $KEY" http://127.0.0.1:8080/v1/models
measure "POST /v1/chat/completions" -s "$WORK/chat.lua" -H "Authorization: Bearer $KEY" http://127.0.0.1:8080/v1/chat/completions
wrk -t1 -c1 -d"${DUR}s" --latency -s "$WORK/chat.lua" http://127.0.0.1:9100/v1/chat/completions | awk '/ 50%/ {print "the upstream directly: p50 " $2}'
