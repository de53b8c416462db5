#!/usr/bin/env python3
"""A node far past what it can compute: how fast it refuses, what the admitted wait, its memory, and
whether /health/live still answers.

Starts `conduit serve` (loopback, no authentication, default model) and runs, for --duration seconds,
--clients closed-loop clients that each send --batch texts of the --corpus per request and, refused, send
the next at once (a client that ignores Retry-After: the worst case). Beside them a probe asks
/health/live every 50 ms, and the server's resident memory is read every 100 ms. Run it twice, with
the first run's admitted request rate known, to see the offered load as a multiple of it.

    python3 benchmarks/overload/overload.py --conduit .build-release/release/conduit                # 200 × 32 long
    python3 benchmarks/overload/overload.py --conduit ... --clients 64 --batch 1 --corpus short      # many small
    python3 benchmarks/overload/overload.py --conduit ... --rate 11        # open loop: 11 requests/s, whatever the answers

With --rate, requests start at that fixed rate (open loop, as independent callers arrive), each on an
idle connection of a pool that grows as needed, instead of --clients closed loops: the way to offer a
multiple of what the node serves (it serves about 1.1 requests/s of 32 long texts on 2 cores).

Prints one JSON object: admitted and refused counts and latencies (p50/p99/max), the offered request
rate against the admitted one, health-probe latencies, peak resident memory, and what it ran on
(`conduit bench --describe`: the CPU, its features, the kernel).
"""
import argparse, asyncio, json, os, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p / 100))] * 1000, 1)


def summary(latencies):
    return {"count": len(latencies), "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "max_ms": round(max(latencies) * 1000, 1) if latencies else None}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def corpus(name):
    folder = os.path.join(ROOT, "benchmarks", ".corpus")
    path = os.path.join(folder, f"corpus_{name}.jsonl")
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "peers", "make_corpus.py"), "--out-dir", folder],
                       check=True, stdout=subprocess.DEVNULL)
    return [json.loads(line)["text"] for line in open(path)]


async def exchange(reader, writer, request):
    """One HTTP/1.1 request on a kept-alive connection: (status, headers, seconds)."""
    start = time.perf_counter()
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, time.perf_counter() - start


def post(port, body):
    return (f"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def client(port, bodies, index, deadline, results):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    turn = index
    while time.perf_counter() < deadline:
        try:
            status, headers, seconds = await exchange(reader, writer, post(port, bodies[turn % len(bodies)]))
        except (ConnectionError, asyncio.IncompleteReadError):
            results["errors"].append("connection")
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            continue
        turn += 1
        tally(results, status, headers, seconds)
    writer.close()


def tally(results, status, headers, seconds):
    if status == 200:
        results["admitted"].append(seconds)
    elif status in (429, 503):
        results["refused"].append(seconds)
        if "retry-after" not in headers:
            results["errors"].append(f"{status} without Retry-After")
    else:
        results["errors"].append(str(status))


async def open_loop(port, bodies, rate, deadline, results):
    """Starts a request every 1/rate seconds on an idle connection (a new one when none is idle)."""
    idle, running, turn = [], set(), 0

    async def one(body, scheduled):
        connection = None
        try:
            connection = idle.pop() if idle else await asyncio.open_connection("127.0.0.1", port)
            status, headers, _ = await exchange(*connection, post(port, body))
            # From when it was due, not when it was sent: a late start counts against the server too.
            tally(results, status, headers, time.perf_counter() - scheduled)
            idle.append(connection)
        except (OSError, asyncio.IncompleteReadError):
            results["errors"].append("connection")
            if connection:
                connection[1].close()

    start = time.perf_counter()
    while time.perf_counter() < deadline:
        task = asyncio.create_task(one(bodies[turn % len(bodies)], start + turn / rate))
        running.add(task)
        task.add_done_callback(running.discard)
        turn += 1
        await asyncio.sleep(max(0, start + turn / rate - time.perf_counter()))
    await asyncio.gather(*running)
    for _, writer in idle:
        writer.close()


async def probe(port, deadline, latencies):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    while time.perf_counter() < deadline:
        _, _, seconds = await exchange(reader, writer, request)
        latencies.append(seconds)
        await asyncio.sleep(0.05)
    writer.close()


def resident_megabytes(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024


async def sample_memory(pid, deadline, peak):
    while time.perf_counter() < deadline:
        peak[0] = max(peak[0], resident_megabytes(pid))
        await asyncio.sleep(0.1)


async def run(args, port, pid):
    texts = corpus(args.corpus)
    bodies = [json.dumps({"model": "all-MiniLM-L6-v2", "input": texts[i:i + args.batch]}).encode()
              for i in range(0, len(texts) - args.batch, args.batch)][:64]
    results = {"admitted": [], "refused": [], "errors": []}
    health, peak = [], [resident_megabytes(pid)]
    start = time.perf_counter()
    deadline = start + args.duration
    load = ([open_loop(port, bodies, args.rate, deadline, results)] if args.rate
            else [client(port, bodies, i, deadline, results) for i in range(args.clients)])
    await asyncio.gather(probe(port, deadline, health), sample_memory(pid, deadline, peak), *load)
    elapsed = time.perf_counter() - start
    # Offered over the time load was offered; admitted over the whole run, which waits for the last
    # admitted answers (each up to the request timeout) after it.
    admitted_rate = len(results["admitted"]) / elapsed
    unanswered = [e for e in results["errors"] if not e.endswith("without Retry-After")]  # the others are refusals too
    offered_rate = (len(results["admitted"]) + len(results["refused"]) + len(unanswered)) / args.duration
    return {
        "clients": None if args.rate else args.clients, "rate": args.rate, "batch": args.batch, "corpus": args.corpus, "seconds": round(elapsed, 1),
        "admitted": summary(results["admitted"]), "refused": summary(results["refused"]),
        "errors": {e: results["errors"].count(e) for e in set(results["errors"])},
        "admitted_texts_per_second": round(admitted_rate * args.batch, 1),
        "offered_requests_per_second": round(offered_rate, 1),
        "offered_over_admitted": round(offered_rate / admitted_rate, 1) if admitted_rate else None,
        "health_live": summary(health), "peak_resident_mb": round(peak[0], 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conduit", default=os.path.join(ROOT, ".build-release", "release", "conduit"))
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, help="requests a second, open loop, instead of --clients closed loops")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--corpus", choices=["short", "long"], default="long")
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--server-arg", action="append", default=[], help="an extra argument for `conduit serve`")
    args = parser.parse_args()
    compute = json.loads(subprocess.run([args.conduit, "bench", "--describe"], check=True, capture_output=True, text=True).stdout)
    port = free_port()
    work = tempfile.mkdtemp()
    env = dict(os.environ, CONDUIT_SERVER_MAX_CONNECTIONS_PER_ADDRESS="100000")
    server = subprocess.Popen([args.conduit, "serve", "--port", str(port), "--data-dir", work, "--log-level", "error",
                               *args.server_arg], env=env)
    try:
        for _ in range(600):
            try:
                with socket.create_connection(("127.0.0.1", port)) as s:
                    s.sendall(b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if b" 200 " in s.recv(100):
                        break
            except OSError:
                pass
            time.sleep(0.1)
        report = asyncio.run(run(args, port, server.pid))
        report["compute"] = compute
        print(json.dumps(report, indent=2))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
