#!/usr/bin/env python3
"""Holds many live event streams open on one Conduit node, server-sent events or WebSockets, and measures
what each costs and how fast events reach them.

It starts `conduit serve` (SQLite, authentication on), opens --streams streams (`GET /v1/events/stream`,
each filtered to a resource of its own, as a client watching its job would be), reads the server's
resident memory before and after (memory per open stream), then writes --rate events a second for
--duration seconds straight into the node's SQLite file from this process (a second process, as another
node would: the server sees them by polling every events.poll_interval_seconds), each event for one
stream in turn, and reports the latency from the event's commit to its arrival (p50, p99).

    python3 benchmarks/events/sse_fanout.py --conduit .build-release/release/conduit --streams 1000 --rate 1000
    python3 benchmarks/events/sse_fanout.py --transport ws ...   # GET /v1/ws, one subscription per socket
"""
import argparse, asyncio, base64, json, os, sqlite3, struct, subprocess, sys, tempfile, time, uuid


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def open_stream(port, key, resource, arrivals, opened):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write((f"GET /v1/events/stream?resource={resource} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                  "Accept: text/event-stream\r\n\r\n").encode())
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream refused: {status!r}")
    opened.append(1)
    while True:
        line = await reader.readline()
        if not line:
            return
        if line.startswith(b"data: "):
            record_arrival(json.loads(line[6:]), arrivals)


def record_arrival(event, arrivals):
    sent = event.get("data", {}).get("sent_ns")
    if sent:
        arrivals.append((time.time_ns() - sent) / 1e6)


async def open_socket(port, key, resource, arrivals, opened):
    """A WebSocket spoken by hand (RFC 6455: the client masks its frames, the server does not)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    nonce = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /v1/ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: Upgrade\r\n"
                  f"Upgrade: websocket\r\nSec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    await writer.drain()
    status = await reader.readline()
    if b" 101 " not in status:
        raise RuntimeError(f"socket refused: {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    message = json.dumps({"type": "subscribe", "id": "s", "resource": resource}).encode()
    mask = os.urandom(4)
    writer.write(bytes([0x81, 0x80 | len(message)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(message)))
    await writer.drain()
    opened.append(1)
    while True:
        head = await reader.readexactly(2)
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(length)
        if head[0] & 0x0F == 0x9:  # ping: answer it, masked, as the server expects of a client
            mask = os.urandom(4)
            writer.write(bytes([0x8A, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        elif head[0] & 0x0F == 0x1:
            message = json.loads(payload)
            if message.get("type") == "event":
                record_arrival(message["event"], arrivals)


def produce(database, team, streams, rate, duration):
    connection = sqlite3.connect(database, timeout=10, isolation_level=None)
    connection.execute("PRAGMA busy_timeout = 10000")
    batch = max(1, rate // 100)  # a commit every 10 ms
    written, started, index = 0, time.monotonic(), 0
    while time.monotonic() - started < duration:
        connection.execute("BEGIN IMMEDIATE")
        for _ in range(batch):
            sequence = connection.execute(
                "INSERT INTO event_sequences (team_id, last_seq) VALUES (?, 1) ON CONFLICT (team_id) "
                "DO UPDATE SET last_seq = event_sequences.last_seq + 1 RETURNING last_seq", (team,)).fetchone()[0]
            resource = f"bench:{index % streams}"
            index += 1
            # The payload's time is taken just before the commit: the latency counted is commit to arrival.
            payload = json.dumps({"sent_ns": time.time_ns()})
            connection.execute(
                "INSERT INTO events (id, team_id, seq, topic, resource, payload, created_at) VALUES (?, ?, ?, 'job.completed', ?, ?, ?)",
                (str(uuid.uuid4()), team, sequence, resource, payload, int(time.time() * 1000)))
        connection.execute("COMMIT")
        written += batch
        delay = started + written / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return written


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conduit", default=".build-release/release/conduit")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=1000, help="events a second, all streams together")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--poll", default="0.02", help="events.poll_interval_seconds of the node")
    parser.add_argument("--port", type=int, default=8095)
    parser.add_argument("--transport", choices=["sse", "ws"], default="sse")
    parser.add_argument("--open-rate", type=int, default=0,
                        help="streams opened a second (0: all at once, a burst whose transient memory the allocator may keep)")
    arguments = parser.parse_args()

    work = tempfile.mkdtemp()
    conduit = os.path.abspath(arguments.conduit)
    key = subprocess.run([conduit, "keys", "create", "--name", "bench", "--scope", "jobs", "--data-dir", work],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    environment = dict(os.environ, CONDUIT_SERVER_FEATURES="jobs,webhooks", CONDUIT_EVENTS_POLL_INTERVAL_SECONDS=arguments.poll,
                       CONDUIT_EVENTS_MAX_STREAMS_PER_KEY="100000", CONDUIT_EVENTS_MAX_STREAMS_PER_TEAM="100000",
                       CONDUIT_AUTH_ADMIN_KEY=uuid.uuid4().hex + uuid.uuid4().hex, CONDUIT_SERVER_MAX_CONNECTIONS_PER_ADDRESS="100000",
                       CONDUIT_SERVER_MAX_CONNECTIONS="100000")
    server = subprocess.Popen([conduit, "serve", "--auth", "--port", str(arguments.port), "--data-dir", work, "--log-level", "error"],
                              env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                await asyncio.wait_for(asyncio.open_connection("127.0.0.1", arguments.port), 1)
                break
            except OSError:
                await asyncio.sleep(0.1)
        database = os.path.join(work, "conduit.sqlite")
        team = sqlite3.connect(database).execute("SELECT team_id FROM api_keys WHERE name = 'bench'").fetchone()[0]
        await asyncio.sleep(1)
        before = rss_kib(server.pid)
        arrivals, opened = [], []
        opener = open_socket if arguments.transport == "ws" else open_stream
        streams = []
        for index in range(arguments.streams):
            streams.append(asyncio.create_task(opener(arguments.port, key, f"bench:{index}", arrivals, opened)))
            if arguments.open_rate:
                await asyncio.sleep(1 / arguments.open_rate)
        while len(opened) < arguments.streams:
            await asyncio.sleep(0.2)
            print(f"\ropen streams: {len(opened)}/{arguments.streams}", end="", file=sys.stderr)
        await asyncio.sleep(2)
        after = rss_kib(server.pid)
        print(file=sys.stderr)
        cpu_before = sum(int(field) for field in open(f"/proc/{server.pid}/stat").read().split()[13:15])
        written = await asyncio.to_thread(produce, database, team, arguments.streams, arguments.rate, arguments.duration)
        await asyncio.sleep(2)
        cpu_after = sum(int(field) for field in open(f"/proc/{server.pid}/stat").read().split()[13:15])
        result = {
            "transport": arguments.transport, "streams": arguments.streams, "open_rate": arguments.open_rate, "rss_before_kib": before, "rss_open_kib": after,
            "kib_per_stream": round((after - before) / arguments.streams, 1),
            "events_written": written, "events_received": len(arrivals), "poll_interval_s": float(arguments.poll),
            "latency_ms": {"p50": round(percentile(arrivals, 0.5), 1), "p99": round(percentile(arrivals, 0.99), 1),
                           "max": round(max(arrivals, default=float("nan")), 1)},
            "server_cpu_s": (cpu_after - cpu_before) / os.sysconf("SC_CLK_TCK"),
        }
        print(json.dumps(result))
        for stream in streams:
            stream.cancel()
    finally:
        server.terminate()
        server.wait(timeout=30)


asyncio.run(main())
