#!/usr/bin/env python3
"""Interactive latency while a batch embedding job runs, against a running `conduit serve`.

Three phases, each timing single-text /v1/embeddings requests sent one after another:
  1. idle: nothing else runs;
  2. job: a batch job (kind embeddings, TEXTS texts) runs at background priority;
  3. online batch: the same texts sent as /v1/embeddings requests of 64 texts by one client (interactive priority),
     which is what a batch would cost interactive callers without the job queue's lower priority.
Reports p50/p90/p99 of the single requests and the batch's throughput in each phase.

  python3 benchmarks/batch_priority.py --base-url http://127.0.0.1:8080 [--texts 4000] [--api-key KEY]
Standard library only.
"""
import argparse
import json
import statistics
import threading
import time
import urllib.request


def post(base, path, body, key, timeout=600):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", "Bearer " + key)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def get(base, path, key):
    request = urllib.request.Request(base + path)
    if key:
        request.add_header("Authorization", "Bearer " + key)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def probe(base, key, stop, latencies):
    """Single-text requests one after another until `stop` is set."""
    index = 0
    while not stop.is_set():
        started = time.perf_counter()
        post(base, "/v1/embeddings", {"input": f"an interactive request, number {index}, about rivers and tea"}, key)
        latencies.append((time.perf_counter() - started) * 1000)
        index += 1


def percentiles(values):
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"n": len(values), "p50": round(pick(0.5), 1), "p90": round(pick(0.9), 1), "p99": round(pick(0.99), 1)}


def phase(name, base, key, work):
    latencies, stop = [], threading.Event()
    prober = threading.Thread(target=probe, args=(base, key, stop, latencies))
    prober.start()
    started = time.perf_counter()
    texts_done = work()
    elapsed = time.perf_counter() - started
    stop.set()
    prober.join()
    result = {"phase": name, **percentiles(latencies)}
    if texts_done:
        result["batch_texts_per_s"] = round(texts_done / elapsed, 1)
    print(json.dumps(result), flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--api-key")
    parser.add_argument("--texts", type=int, default=4000)
    parser.add_argument("--idle-seconds", type=float, default=10)
    args = parser.parse_args()
    base, key = args.base_url.rstrip("/"), args.api_key
    texts = [f"batch text number {i}: the river runs past the mill and the tea grows on the hill" for i in range(args.texts)]

    phase("idle", base, key, lambda: time.sleep(args.idle_seconds))

    def job():
        submitted = post(base, "/v1/jobs", {"kind": "embeddings", "input": {"input": texts}}, key)
        while True:
            shown = get(base, f"/v1/jobs/{submitted['id']}", key)
            if shown["state"] in ("completed", "discarded", "cancelled"):
                assert shown["state"] == "completed", shown
                return len(texts)
            time.sleep(0.05)

    phase("job (background priority)", base, key, job)

    def online():
        for start in range(0, len(texts), 64):
            post(base, "/v1/embeddings", {"input": texts[start:start + 64]}, key)
        return len(texts)

    phase("online batch (interactive priority)", base, key, online)


if __name__ == "__main__":
    main()
