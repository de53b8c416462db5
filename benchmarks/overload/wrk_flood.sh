#!/usr/bin/env bash
# The closed-loop flood of overload.py (CLIENTS connections, each sending 32 long texts again as soon as
# it is answered) from wrk, a load generator in C, so that the client's own CPU does not set the
# figures: after a 5 s warm-up, wrk's latency percentiles over DURATION seconds (refusals: all but a
# handful are), and a /health/live probe every 50 ms from a separate process.
#   apt-get install wrk
#   BIN=.build-release/release/conduit CLIENTS=200 bash benchmarks/overload/wrk_flood.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$(dirname "$HERE")")"
BIN="${BIN:-$ROOT/.build-release/release/conduit}"
CLIENTS="${CLIENTS:-200}"
DURATION="${DURATION:-15}"
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; rm -rf "$WORK"' EXIT

[ -f "$ROOT/benchmarks/.corpus/corpus_long.jsonl" ] || python3 "$ROOT/benchmarks/peers/make_corpus.py" --out-dir "$ROOT/benchmarks/.corpus" >/dev/null
python3 - "$ROOT/benchmarks/.corpus/corpus_long.jsonl" > "$WORK/flood.lua" <<'PY'
import json, sys
texts = [json.loads(line)["text"] for line in open(sys.argv[1])]
bodies = [json.dumps({"model": "all-MiniLM-L6-v2", "input": texts[i:i + 32]}) for i in range(0, len(texts) - 32, 32)][:64]
print("local bodies = {" + ",".join("[==[" + body + "]==]" for body in bodies) + "}")
print('local turn = 0\nrequest = function()\n  turn = turn + 1\n'
      '  return wrk.format("POST", "/v1/embeddings", {["Content-Type"] = "application/json"}, bodies[turn % #bodies + 1])\nend')
PY

CONDUIT_SERVER_MAX_CONNECTIONS_PER_ADDRESS=100000 "$BIN" serve --port "$PORT" --data-dir "$WORK" --log-level error &
SERVER=$!
until curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null; do sleep 0.2; done
"$BIN" bench --describe | python3 -c 'import json, sys; d = json.load(sys.stdin); print("on", d["cpu"], d["kernel"])'
wrk -t1 -c"$CLIENTS" -d5s --timeout 60s -s "$WORK/flood.lua" "http://127.0.0.1:$PORT/" >/dev/null
python3 - "$PORT" "$DURATION" > "$WORK/probe.txt" <<'PY' &
import socket, sys, time
port, duration = int(sys.argv[1]), float(sys.argv[2])
connection, latencies = socket.create_connection(("127.0.0.1", port)), []
deadline = time.time() + duration
while time.time() < deadline:
    start = time.perf_counter()
    connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(4096)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += connection.recv(4096)
    latencies.append(time.perf_counter() - start)
    time.sleep(0.05)
latencies.sort()
at = lambda p: round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 1)
print(f"/health/live: {len(latencies)} probes, p50 {at(0.5)} ms, p99 {at(0.99)} ms, max {round(latencies[-1] * 1000, 1)} ms")
PY
PROBE=$!
wrk -t1 -c"$CLIENTS" -d"${DURATION}s" --latency --timeout 60s -s "$WORK/flood.lua" "http://127.0.0.1:$PORT/" | grep -E "requests in|Non-2xx|Requests/sec|^ +(50|75|90|99)%"
wait "$PROBE"
cat "$WORK/probe.txt"
