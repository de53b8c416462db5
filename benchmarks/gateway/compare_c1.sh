#!/usr/bin/env bash
# Added latency of one client at a time (c=1), for several conduit binaries in turn, each between two
# direct runs against the same no-op upstream (the kit's), so that a change's effect shows beside the
# machine's noise. Chat by default; STREAM=1 for streams of 20 events. WITH_NGINX=1 adds, each round, nginx
# (Debian's) as a plain reverse proxy with upstream keep-alive: the least a hop through a proxy adds here.
#
#   BINS="/tmp/old/conduit .build-release/release/conduit" ROUNDS=2 DUR=8 WITH_NGINX=1 bash benchmarks/gateway/compare_c1.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/noop_gateway.sh"
BINS="${BINS:-$ROOT/.build-release/release/conduit}" ROUNDS="${ROUNDS:-2}" DUR="${DUR:-8}"
load() {  # url key target [pid]
  "$PY" "$KIT/gateway_load.py" --url "$1" --model noop ${2:+--api-key "$2"} ${STREAM:+--stream} --concurrency 1 --duration "$DUR" \
    --target "$3" ${4:+--pid gateway=$4} --out "$WORK/r.jsonl" > /dev/null 2>&1
}
report() {  # round
    python3 - "$WORK/r.jsonl" "$1" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])][-3:]
direct = sorted(r["latency_ms"]["p50"] for r in (rows[0], rows[2]))
gateway = rows[1]
cpu = gateway["procs"].get("gateway")
print(f"round {sys.argv[2]} | {gateway['target']}: p50 {gateway['latency_ms']['p50']:.3f} ms (direct {direct[0]:.3f}-{direct[1]:.3f}), "
      f"added p50 {gateway['latency_ms']['p50'] - sum(direct) / 2:.3f} ms, p99 {gateway['latency_ms']['p99']:.3f} ms, "
      f"{gateway['rps']:.0f} req/s" + (f", gateway CPU {cpu['cpu_ms_per_req']:.3f} ms/req" if cpu else ""))
PY
}
nginx_round() {  # round
  cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
master_process off;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK; proxy_temp_path $WORK; fastcgi_temp_path $WORK; uwsgi_temp_path $WORK; scgi_temp_path $WORK;
  upstream noop { server 127.0.0.1:9100; keepalive 64; }
  server {
    listen 127.0.0.1:8090;
    location / { proxy_pass http://noop; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
NGINX
  nginx -c "$WORK/nginx.conf" & local proxy=$!
  until curl -s -o /dev/null http://127.0.0.1:8090/; do sleep 0.2; done
  load http://127.0.0.1:9100 "" direct
  load http://127.0.0.1:8090 "" "nginx" "$proxy"
  load http://127.0.0.1:9100 "" direct
  kill "$proxy"; wait "$proxy" 2>/dev/null || true
  report "$1"
}
for round in $(seq "$ROUNDS"); do
  if [ -n "${WITH_NGINX:-}" ]; then nginx_round "$round"; fi
  for bin in $BINS; do
    start_gateway "$bin"
    load http://127.0.0.1:9100 "" direct
    load http://127.0.0.1:8080 "$KEY" "$bin" "$SERVER"
    load http://127.0.0.1:9100 "" direct
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
    report "$round"
  done
done
