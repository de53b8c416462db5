#!/usr/bin/env python3
"""The agent router on the shipped labelled set (benchmarks/agents/router-labelled.jsonl, 260 requests for the 13
agents of deploy/agents and 20 no agent should take): accuracy, abstain rate and the latency of POST /v1/route,
one request at a time as a client sees it, against a Conduit node it starts with deploy/agents and deploy/domains.

The set is split in two by line (even lines: `fit`, odd: `held-out`). `--sweep` finds, on the fit half only, the one
threshold for every agent that makes the most decisions right: that is how deploy/domains/base.yaml's
router.threshold was chosen, and the held-out half measures it.

    python3 benchmarks/agents/router.py [CONDUIT_BINARY] [--sweep] [--domain base]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time, urllib.request

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
parser = argparse.ArgumentParser()
parser.add_argument("conduit", nargs="?", default=os.path.join(root, ".build-release/release/conduit"))
parser.add_argument("--sweep", action="store_true")
parser.add_argument("--domain", default="base")
parser.add_argument("--port", type=int, default=8097)
args = parser.parse_args()

examples = [json.loads(line) for line in open(os.path.join(here, "router-labelled.jsonl"))]
work = tempfile.mkdtemp()
# The model where scripts/setup put it; a database of its own.
env = dict(os.environ, CONDUIT_AGENTS_DIR=os.path.join(root, "deploy/agents"), CONDUIT_AGENTS_DOMAINS_DIR=os.path.join(root, "deploy/domains"),
           CONDUIT_DATA_DIR=os.path.join(root, "data"), CONDUIT_DATABASE_URL=os.path.join(work, "conduit.sqlite"))
server = subprocess.Popen([args.conduit, "serve", "--port", str(args.port), "--log-level", "error"], env=env)
base = f"http://127.0.0.1:{args.port}"

def post(path, body):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    return json.load(urllib.request.urlopen(request))

try:
    for _ in range(600):
        try:
            urllib.request.urlopen(base + "/health/ready"); break
        except Exception: time.sleep(0.1)
    post("/v1/route", {"input": "warm up", "domain": args.domain})  # builds the route table once
    decisions, latencies = [], []
    for example in examples:
        started = time.perf_counter()
        decision = post("/v1/route", {"input": example["input"], "domain": args.domain})
        latencies.append((time.perf_counter() - started) * 1000)
        decisions.append(decision)
finally:
    server.terminate(); server.wait()

def accuracy(indices, threshold=None):
    right = 0
    for i in indices:
        d = decisions[i]
        best = d["agent"] if d["method"] == "semantic" else None
        if threshold is not None:
            top = d["agent"] if d["method"] == "semantic" else (d["alternatives"][0]["agent"] if d["alternatives"] else None)
            best = top if d["confidence"] >= threshold else None
        right += best == examples[i]["agent"]
    return right / len(indices)

fit = list(range(0, len(examples), 2)); held = list(range(1, len(examples), 2)); every = list(range(len(examples)))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = open("/proc/cpuinfo").read()
print(f"CPU: {cpu} ({'AVX-512' if ' avx512f' in flags else 'AVX2'}), {os.cpu_count()} cores; domain {args.domain}; {len(examples)} labelled requests")
if args.sweep:
    candidates = sorted({round(d["confidence"], 3) for d in decisions})
    best = max(candidates, key=lambda t: (accuracy(fit, t), -abs(t - 0.2)))
    print(f"sweep on the fit half: threshold {best} → fit {accuracy(fit, best):.3f}, held-out {accuracy(held, best):.3f}")
abstained = sum(d["method"] != "semantic" for d in decisions) / len(decisions)
latencies.sort()
print(f"accuracy: all {accuracy(every):.3f}, fit half {accuracy(fit):.3f}, held-out half {accuracy(held):.3f}; abstained on {abstained:.3f}")
print(f"POST /v1/route latency (client, sequential): p50 {statistics.median(latencies):.2f} ms, p99 {latencies[int(len(latencies) * 0.99) - 1]:.2f} ms")
print(f"server-side routing (latency_ms): p50 {statistics.median(sorted(d['latency_ms'] for d in decisions)):.2f} ms")
