#!/usr/bin/env bash
# HTTP short c=32 without auth, with an API key (no limits), and with a key under limits, SQLite store.
set -u
P="${PEERS_VENV:-$HOME/peers-venv}/bin/python"
BIN="${CONDUIT_BIN:-.build/release/conduit}"
run() {  # label, extra serve args, key
    "$BIN" serve --port 8096 --data-dir "$D" $2 > /tmp/ab_out.log 2>/tmp/ab_err.log &
    pid=$!
    for _ in $(seq 50); do curl -sf localhost:8096/health/ready >/dev/null && break; sleep 0.2; done
    key="${3:-}"
    [ "$key" = "ADMIN" ] && key=$(tail -1 /tmp/ab_out.log)
    $P "$(dirname "$0")/peers/http_load.py" --base-url http://127.0.0.1:8096 ${key:+--api-key "$key"} --model all-MiniLM-L6-v2 \
        --corpus short --concurrency 32 --batch 1 --duration 15 2>&1 | grep "c=32" | sed "s/^ */$1: /"
    kill $pid; wait $pid 2>/dev/null
}
for round in 1 2; do
  D=$(mktemp -d)
  run "no auth        " ""
  run "api key        " "--auth" ADMIN
  K=$("$BIN" keys create --name bench --data-dir "$D" 2>/dev/null | tail -1)
  ID=$("$BIN" keys list --data-dir "$D" | awk '/bench/{print $1}')
  "$BIN" keys limits "$ID" --requests-per-minute 1000000 --tokens-per-minute 100000000 --monthly-tokens 1000000000 --data-dir "$D" >/dev/null
  run "key + limits   " "--auth" "$K"
done
