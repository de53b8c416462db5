#!/usr/bin/env python3
"""Resident memory of an idle keep-alive connection to a Conduit node: 1,000 connections that each made one
request (GET /health/live) and stay open. What every open connection costs before any stream is on it;
benchmarks/events/sse_fanout.py measures an open event stream, which is one such connection.

    python3 benchmarks/events/idle_connections.py [CONDUIT_BINARY]
"""
import asyncio, os, subprocess, sys, tempfile, uuid, time
conduit = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build-release/release/conduit")
work = tempfile.mkdtemp()
env = dict(os.environ, CONDUIT_SERVER_FEATURES="jobs,webhooks", CONDUIT_AUTH_ADMIN_KEY=uuid.uuid4().hex*2,
           CONDUIT_SERVER_MAX_CONNECTIONS_PER_ADDRESS="100000", CONDUIT_SERVER_MAX_CONNECTIONS="100000", CONDUIT_SERVER_IDLE_TIMEOUT_SECONDS="600")
server = subprocess.Popen([conduit, "serve", "--auth", "--port", "8096", "--data-dir", work, "--log-level", "error"], env=env)
def rss():
    for l in open(f"/proc/{server.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
async def conn(opened, keep):
    r, w = await asyncio.open_connection("127.0.0.1", 8096)
    w.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"); await w.drain()
    await r.readuntil(b"\r\n\r\n"); await r.read(15)
    opened.append(1); keep.append((r, w))
async def main():
    for _ in range(100):
        try:
            await asyncio.open_connection("127.0.0.1", 8096); break
        except OSError: await asyncio.sleep(0.1)
    await asyncio.sleep(1); before = rss(); opened, keep = [], []
    await asyncio.gather(*[conn(opened, keep) for _ in range(1000)])
    await asyncio.sleep(2); after = rss()
    print("idle keep-alive connections:", len(opened), "KiB each:", (after - before) / 1000)
asyncio.run(main()); server.terminate()
