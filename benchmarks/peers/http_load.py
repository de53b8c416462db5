#!/usr/bin/env python3
"""Bounded asyncio load generator for OpenAI-style embedding servers (loopback only).

POSTs {"model": MODEL, "input": [texts...]} to BASE_URL + PATH with CONCURRENCY workers, BATCH
texts per request, until REQUESTS requests were sent or DURATION seconds passed (whichever first);
each request has a TIMEOUT.  Reports throughput (texts/s, requests/s, tokens/s), latency
p50/p90/p99/max and error counts.  Texts come from make_corpus (short|long), cycled in order.

Only loopback targets are accepted (127.0.0.0/8, localhost, ::1).

Examples:
  python http_load.py --base-url http://127.0.0.1:7997 --path /embeddings --model all-MiniLM-L6-v2 \\
      --corpus short --concurrency 8 --batch 1 --duration 60
  python http_load.py --base-url http://127.0.0.1:8080 --corpus long --concurrency 4 --batch 32 --out r.json
  python http_load.py --base-url http://127.0.0.1:8080 --check-reference   # accuracy vs the reference set

Environment defaults: LOAD_BASE_URL (http://127.0.0.1:8080), LOAD_PATH (/v1/embeddings),
LOAD_MODEL (all-MiniLM-L6-v2), MODEL_DIR (tokenizer for token counts; optional), REFERENCE_FILE.
"""
import argparse
import asyncio
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_common as bc  # noqa: E402
import make_corpus  # noqa: E402


def token_counts(texts):
    """Word pieces per text (incl. [CLS]/[SEP], truncated at 256), or None if no tokenizer is available."""
    try:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(os.path.join(bc.model_dir(), "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(bc.MAX_SEQ)
        return [len(e.ids) for e in tok.encode_batch(texts)]
    except Exception:  # noqa: BLE001
        return None


async def run_load(args, texts, tok_counts):
    import aiohttp

    url = args.base_url.rstrip("/") + args.path
    n = len(texts)
    state = {"next": 0, "sent": 0}
    lat_ok = []
    errors = {}
    ok_texts = 0
    ok_tokens = 0
    first_err = []
    headers = {"content-type": "application/json"}
    if args.api_key:
        headers["authorization"] = "Bearer " + args.api_key

    def take():
        i = state["next"]
        state["next"] += args.batch
        idx = [(i + k) % n for k in range(args.batch)]
        return idx

    async def one(session, idx, record=True):
        nonlocal ok_texts, ok_tokens
        payload = {"model": args.model, "input": [texts[i] for i in idx]}
        t0 = time.perf_counter()
        try:
            async with session.post(url, json=payload, headers=headers) as resp:
                body = await resp.read()
                dt = time.perf_counter() - t0
                if resp.status != 200:
                    key = "http_%d" % resp.status
                    if len(first_err) < 3:
                        first_err.append("%s: %s" % (key, body[:200].decode("utf-8", "replace")))
                else:
                    d = json.loads(body)
                    data = d.get("data") or []
                    if len(data) != len(idx) or any(len(x.get("embedding") or []) != args.dim for x in data):
                        key = "bad_body"
                        if len(first_err) < 3:
                            first_err.append("bad_body: %s" % body[:200].decode("utf-8", "replace"))
                    else:
                        key = None
        except asyncio.TimeoutError:
            dt, key = time.perf_counter() - t0, "timeout"
        except aiohttp.ClientError as e:
            dt, key = time.perf_counter() - t0, "client_" + e.__class__.__name__
            if len(first_err) < 3:
                first_err.append("%s: %s" % (key, e))
        if not record:
            return key
        if key is None:
            lat_ok.append(dt)
            ok_texts += len(idx)
            if tok_counts:
                ok_tokens += sum(tok_counts[i] for i in idx)
        else:
            errors[key] = errors.get(key, 0) + 1
        return key

    timeout = aiohttp.ClientTimeout(total=args.timeout)
    conn = aiohttp.TCPConnector(limit=args.concurrency, force_close=False)
    async with aiohttp.ClientSession(timeout=timeout, connector=conn) as session:
        for _ in range(args.warmup):  # not counted
            await one(session, take(), record=False)
        state["next"] = 0
        waited, busy_before = bc.wait_quiet(args.quiet_wait, args.quiet_threshold) if args.quiet_wait > 0 else (0.0, None)
        deadline = time.perf_counter() + args.duration
        t_start = time.perf_counter()

        async def worker():
            while state["sent"] < args.requests and time.perf_counter() < deadline:
                state["sent"] += 1
                await one(session, take())

        with bc.LoadMeter(pids=args.server_pid) as lm:
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - t_start

    lat_ok.sort()
    ms = lambda x: None if x is None else round(1000 * x, 2)  # noqa: E731
    n_err = sum(errors.values())
    res = {
        "label": args.label, "url": url, "model": args.model, "corpus": args.corpus, "concurrency": args.concurrency,
        "batch": args.batch, "duration_limit_s": args.duration, "requests_limit": args.requests, "timeout_s": args.timeout,
        "elapsed_s": round(elapsed, 3), "requests_sent": state["sent"], "requests_ok": len(lat_ok), "errors": errors,
        "error_total": n_err, "error_samples": first_err,
        "texts_ok": ok_texts, "texts_per_s": round(ok_texts / elapsed, 2) if elapsed else None,
        "requests_per_s": round(len(lat_ok) / elapsed, 2) if elapsed else None,
        "tokens_per_s": round(ok_tokens / elapsed, 1) if (elapsed and tok_counts) else None,
        "latency_ms": {"p50": ms(bc.percentile(lat_ok, 50)), "p90": ms(bc.percentile(lat_ok, 90)), "p99": ms(bc.percentile(lat_ok, 99)),
                       "max": ms(lat_ok[-1] if lat_ok else None), "mean": ms(sum(lat_ok) / len(lat_ok) if lat_ok else None)},
        "load": lm.as_dict(), "quiet_wait_s": waited, "others_busy_before": busy_before,
    }
    if args.server_pid:
        res["server_cpu_s"] = round(lm.cpu_pids, 2)
        res["server_cpus_busy"] = round(lm.cpu_pids / elapsed, 3) if elapsed else None
    res["client_cpus_busy"] = round(lm.cpu_self / elapsed, 3) if elapsed else None
    return res


async def check_reference(args):
    """Embeds the reference texts (in requests of --batch texts) and compares with the reference embeddings."""
    import aiohttp
    import numpy as np

    path = os.environ.get("REFERENCE_FILE") or os.path.normpath(os.path.join(HERE, "..", "..", "Tests", "Fixtures", "minilm_public.json"))
    with open(path, encoding="utf-8") as f:
        ref = json.load(f)
    items = ref["items"]
    url = args.base_url.rstrip("/") + args.path
    worst = []
    failed = []
    diffs = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=args.timeout)) as session:
        for it in items:  # one text per request: a rejected text does not hide the others
            try:
                async with session.post(url, json={"model": args.model, "input": [it["text"]]}) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        failed.append({"id": it["id"], "category": it["category"], "status": resp.status,
                                       "body": body[:160].decode("utf-8", "replace")})
                        continue
                    emb = np.array(json.loads(body)["data"][0]["embedding"], dtype=np.float64)
            except Exception as e:  # noqa: BLE001
                failed.append({"id": it["id"], "category": it["category"], "error": repr(e)[:160]})
                continue
            want = np.array(it["embedding"], dtype=np.float64)
            cos = float(emb @ want / (np.linalg.norm(emb) * np.linalg.norm(want)))
            mad = float(np.abs(emb - want).max())
            diffs.append((mad, cos, it["id"], it["category"], it["n_tokens_untruncated"]))
    diffs.sort(reverse=True)
    worst = [{"id": i, "category": c, "max_abs_diff": round(m, 7), "cosine": round(co, 7), "n_tokens_untruncated": nt}
             for m, co, i, c, nt in diffs[:8]]
    return {"label": args.label, "url": url, "n": len(items), "n_ok": len(diffs), "n_failed": len(failed),
            "failed": failed[:20], "max_abs_diff": max(d[0] for d in diffs) if diffs else None,
            "min_cosine": min(d[1] for d in diffs) if diffs else None,
            "n_within_1e-4": sum(1 for d in diffs if d[0] <= 1e-4), "worst": worst}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", default=os.environ.get("LOAD_BASE_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--path", default=os.environ.get("LOAD_PATH", "/v1/embeddings"))
    ap.add_argument("--model", default=os.environ.get("LOAD_MODEL", "all-MiniLM-L6-v2"))
    ap.add_argument("--api-key", default=os.environ.get("LOAD_API_KEY"))
    ap.add_argument("--corpus", default="short", choices=["short", "long"])
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1, help="texts per request")
    ap.add_argument("--requests", type=int, default=20000, help="upper bound on requests sent (hard cap 200000)")
    ap.add_argument("--duration", type=float, default=60.0, help="stop sending after this many seconds (hard cap 600)")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds")
    ap.add_argument("--warmup", type=int, default=3, help="untimed requests before the run")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--server-pid", type=int, action="append", default=[], help="pid(s) whose CPU time to report")
    ap.add_argument("--quiet-wait", type=float, default=0.0,
                    help="before timing, wait up to this many seconds for other processes to go quiet (0: don't)")
    ap.add_argument("--quiet-threshold", type=float, default=0.5)
    ap.add_argument("--label", default="")
    ap.add_argument("--out", help="append the JSON result as one line to this file")
    ap.add_argument("--check-reference", action="store_true", help="compare embeddings with the reference set instead of load")
    args = ap.parse_args()
    bc.assert_loopback(args.base_url)
    args.requests = max(1, min(args.requests, 200000))
    args.duration = max(0.1, min(args.duration, 600.0))
    args.concurrency = max(1, min(args.concurrency, 1024))

    if args.check_reference:
        res = asyncio.run(check_reference(args))
    else:
        texts = make_corpus.load_corpus(args.corpus)
        res = asyncio.run(run_load(args, texts, token_counts(texts)))
        print("%-22s %-5s c=%-3d b=%-3d %8.1f texts/s %7.1f req/s  p50 %s p90 %s p99 %s ms  err %d  (server %.2f CPUs, others %.2f CPUs, load %.2f)" % (
            args.label, args.corpus, args.concurrency, args.batch, res["texts_per_s"] or 0, res["requests_per_s"] or 0,
            res["latency_ms"]["p50"], res["latency_ms"]["p90"], res["latency_ms"]["p99"], res["error_total"],
            res.get("server_cpus_busy") or 0, res["load"]["other_cpus_busy"], res["load"]["loadavg_end"][0]), flush=True)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(res, ensure_ascii=False) + "\n")
    else:
        print(json.dumps(res, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
