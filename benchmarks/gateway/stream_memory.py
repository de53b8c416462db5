#!/usr/bin/env python3
"""Resident memory per open stream: Conduit's gateway (and LiteLLM's proxy, side by side in one run) in
front of the kit's no-op upstream, streaming slowly so that every stream stays open. For each count of
open streams the gateway's resident memory (its process tree, VmRSS) is read once all of them have had
their first event and a few seconds have passed; the figure per stream is the slope over the counts.

    $HOME/gateway-peers-venv/bin/python benchmarks/gateway/stream_memory.py \
        --conduit .build-release/release/conduit [--litellm] [--counts 0,250,500,1000]

Needs the gateway kit (../shared/bench/gateway) and its venv (aiohttp; litellm for --litellm).
"""
import argparse
import asyncio
import os
import pathlib
import secrets
import signal
import subprocess
import sys
import tempfile
import time

import aiohttp

ROOT = pathlib.Path(__file__).resolve().parents[2]
UPSTREAM_PORT, CONDUIT_PORT, LITELLM_PORT = 9100, 8080, 4000


def tree_rss_kib(pid):
    """VmRSS of `pid` and its descendants, in KiB."""
    pids, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child in pathlib.Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
            if int(child) not in pids:
                pids.add(int(child))
                frontier.append(int(child))
    total = 0
    for p in pids:
        try:
            for line in pathlib.Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


async def wait_ready(url, key, deadline_s=180):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    end = time.monotonic() + deadline_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < end:
            try:
                async with session.get(f"{url}/v1/models", headers=headers) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    sys.exit(f"{url} did not become ready")


async def hold_streams(url, key, count, started, release):
    """Opens `count` streams, counts those that had their first event in `started`, reads them until `release`."""
    if count == 0:
        return
    connector = aiohttp.TCPConnector(limit=0)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body = {"model": "noop", "stream": True, "messages": [{"role": "user", "content": "hold this stream open"}]}

    async def one(session):
        async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as response:
            first = True
            async for _ in response.content:
                if first:
                    started.append(1)
                    first = False
                if release.is_set():
                    return

    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:
        tasks = [asyncio.create_task(one(session)) for _ in range(count)]
        await release.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def measure(name, url, key, pid, counts, settle_s):
    rows = []
    for count in counts:
        started, release = [], asyncio.Event()
        holder = asyncio.create_task(hold_streams(url, key, count, started, release))
        end = time.monotonic() + 120
        while len(started) < count and time.monotonic() < end:
            await asyncio.sleep(0.2)
        await asyncio.sleep(settle_s)
        rss = tree_rss_kib(pid)
        rows.append((count, len(started), rss))
        print(f"{name}: {len(started)}/{count} streams open, RSS {rss / 1024:.1f} MiB", file=sys.stderr)
        release.set()
        await holder
        await asyncio.sleep(settle_s)
    return rows


def slope(rows):
    """Least-squares KiB per open stream over the counts whose streams all opened (a gateway that could
    not open them all is measured up to the last count it could)."""
    rows = [r for r in rows if r[0] == r[1]]
    if len(rows) < 2:
        return float("nan")
    xs, ys = [r[1] for r in rows], [r[2] for r in rows]
    n, mx, my = len(xs), sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else float("nan")


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conduit", required=True, help="the conduit binary (a release build)")
    ap.add_argument("--kit", default=str(ROOT.parent / "shared/bench/gateway"))
    ap.add_argument("--litellm", action="store_true", help="measure LiteLLM's proxy (1 worker) too")
    ap.add_argument("--counts", default="0,250,500,1000")
    ap.add_argument("--settle-s", type=float, default=3.0)
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    work = pathlib.Path(tempfile.mkdtemp(prefix="stream-memory-"))
    processes = []

    def start(command, **kw):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(work / "log.txt", "ab"), start_new_session=True, **kw)
        processes.append(process)
        return process

    try:
        # Streams of 1,200 events 100 ms apart: two minutes each, longer than any measurement holds them.
        start([sys.executable, f"{args.kit}/noop_upstream.py", "--port", str(UPSTREAM_PORT), "--chunks", "1200", "--chunk-delay-ms", "100"])
        (work / "models.yaml").write_text(
            f"models:\n  - name: noop\n    deployments:\n      - base_url: http://127.0.0.1:{UPSTREAM_PORT}/v1\n        model: noop\n")
        key = subprocess.run(
            [args.conduit, "keys", "create", "--name", "bench", "--scope", "chat", "--data-dir", str(work)],
            check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        env = dict(os.environ, CONDUIT_SERVER_FEATURES="chat", CONDUIT_CHAT_MODELS_FILE=str(work / "models.yaml"),
                   CONDUIT_AUTH_ADMIN_KEY=secrets.token_urlsafe(32), CONDUIT_SERVER_MAX_CONNECTIONS_PER_ADDRESS="4096",
                   CONDUIT_SERVER_MAX_CONNECTIONS="8192")
        conduit = start([args.conduit, "serve", "--auth", "--port", str(CONDUIT_PORT), "--data-dir", str(work), "--log-level", "error"], env=env)
        await wait_ready(f"http://127.0.0.1:{CONDUIT_PORT}", key)
        results = {"conduit": await measure("conduit", f"http://127.0.0.1:{CONDUIT_PORT}", key, conduit.pid, counts, args.settle_s)}
        if args.litellm:
            master = "sk-" + secrets.token_hex(16)
            (work / "litellm.yaml").write_text(
                "model_list:\n  - model_name: noop\n    litellm_params:\n      model: openai/noop\n"
                f"      api_base: http://127.0.0.1:{UPSTREAM_PORT}/v1\n      api_key: sk-noop-upstream\n"
                "litellm_settings:\n  set_verbose: false\n  callbacks: []\n  num_retries: 0\n  request_timeout: 600\n  telemetry: false\n"
                f"general_settings:\n  master_key: {master}\n  disable_spend_logs: true\n  disable_error_logs: true\n")
            litellm_env = dict(os.environ, LITELLM_LOG="ERROR", LITELLM_MODE="PRODUCTION", LITELLM_LOCAL_MODEL_COST_MAP="True")
            litellm = start([str(pathlib.Path(sys.executable).parent / "litellm"), "--config", str(work / "litellm.yaml"), "--host",
                             "127.0.0.1", "--port", str(LITELLM_PORT), "--num_workers", "1"], env=litellm_env, cwd=work)
            await wait_ready(f"http://127.0.0.1:{LITELLM_PORT}", master)
            results["litellm-w1"] = await measure("litellm-w1", f"http://127.0.0.1:{LITELLM_PORT}", master, litellm.pid, counts,
                                                  args.settle_s)
        print("| gateway | " + " | ".join(f"RSS MiB, {c} streams" for c in counts) + " | KiB per open stream |")
        print("|---|" + "---:|" * (len(counts) + 1))
        for name, rows in results.items():
            cells = " | ".join(f"{rss / 1024:.1f}" + ("" if opened == count else f" ({opened} open)") for count, opened, rss in rows)
            print(f"| {name} | {cells} | {slope(rows):.1f} |")
    finally:
        for process in reversed(processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)


if __name__ == "__main__":
    asyncio.run(main())
