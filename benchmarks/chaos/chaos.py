"""The chaos checks of benchmarks/chaos/run.sh, against a server it started: prints PASS/FAIL per check.

Standard library only. Point 1: PostgreSQL restarted under load; point 3: a large caller beside a small
one; point 4: one address holding 1,100 idle connections; last, SIGTERM while the database hangs.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

results = []


def check(name, ok, detail):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)


def call(port, method, path, key=None, body=None, timeout=60, source=None):
    """(status, parsed body or text, seconds taken); status 0 when no answer came."""
    started = time.monotonic()
    try:
        connection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None)
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        connection.close()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw[:200]
        return response.status, parsed, time.monotonic() - started
    except (OSError, http.client.HTTPException) as error:
        return 0, str(error), time.monotonic() - started


def error_code(parsed):
    return parsed.get("error", {}).get("code") if isinstance(parsed, dict) else None


def wait_ready(port):
    for _ in range(600):
        if call(port, "GET", "/health/ready", timeout=2)[0] == 200:
            return
        time.sleep(0.1)
    sys.exit("chaos: the server did not become ready")


def database_restart(args, postgres):
    """Point 1: 8 clients embedding, 200 conversations at 8/s, PostgreSQL down at t = 10 s for 5 s."""
    stop = threading.Event()
    answers = []  # (started, finished, status, code)
    lock = threading.Lock()

    def embed_loop(index):
        while not stop.is_set():
            started = time.monotonic()
            status, parsed, _ = call(args.port, "POST", "/v1/embeddings", args.key_a, {"input": [f"chaos text {index}"]})
            with lock:
                answers.append((started, time.monotonic(), status, error_code(parsed)))

    accepted = []

    def submit_loop():
        for index in range(200):
            body = {"messages": [{"role": "user", "content": f"Order {index} arrived damaged and the box was open. I want a refund."}]}
            for _ in range(40):  # a well-behaved client: retries a 503 after its Retry-After
                status, parsed, _ = call(args.port, "POST", "/v1/conversations", args.key_a, body)
                with lock:
                    answers.append((time.monotonic(), time.monotonic(), status, error_code(parsed)))
                if status == 202:
                    accepted.append(parsed.get("job_id") or parsed.get("id") or (parsed.get("job_ids") or [None])[0])
                    break
                time.sleep(1)
            time.sleep(1 / 8)

    threads = [threading.Thread(target=embed_loop, args=(i,)) for i in range(8)] + [threading.Thread(target=submit_loop)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(10)
    subprocess.run(postgres.format(action="down"), shell=True, check=True)
    down_at = time.monotonic()
    time.sleep(5)
    subprocess.run(postgres.format(action="up"), shell=True, check=True)
    up_at = time.monotonic()
    threads[-1].join()
    stop.set()
    for thread in threads[:-1]:
        thread.join()

    statuses = {}
    for _, _, status, code in answers:
        statuses[(status, code)] = statuses.get((status, code), 0) + 1
    during = [a for a in answers if down_at <= a[0] <= up_at]
    check("point 1: no 500 and no unanswered request while PostgreSQL restarts",
          not any(s >= 500 and c != "database_unavailable" for (s, c) in statuses) and (0, None) not in statuses,
          f"answers by (status, code): {statuses}")
    slowest = max(a[1] - a[0] for a in answers)
    check("point 1: no request waited past the store's 10 s deadline", slowest < 12, f"slowest {slowest:.1f} s")
    refused = [a for a in during if a[2] == 503 and a[3] == "database_unavailable"]
    check("point 1: while it is down, 503 database_unavailable", len(refused) > 0, f"{len(refused)} of {len(during)} begun while down")
    served_after = sorted(a[1] for a in answers if a[0] >= up_at and a[2] == 200)
    resumed = (served_after[0] - up_at) if served_after else float("inf")
    check("point 1: service resumes within 2 s of its return", resumed <= 2, f"first 200 {resumed:.2f} s after it was back")

    deadline = time.monotonic() + 180
    pending = [job for job in accepted if job]
    while pending and time.monotonic() < deadline:
        still = []
        for job in pending:
            status, parsed, _ = call(args.port, "GET", f"/v1/jobs/{job}", args.key_a, timeout=10)
            if not (status == 200 and parsed.get("state") == "completed"):
                still.append(job)
        pending = still
        if pending:
            time.sleep(2)
    check("point 1: every accepted conversation is analysed after the restart", len(accepted) == 200 and not pending,
          f"{len(accepted)} accepted, {len(pending)} not analysed {time.monotonic() - began:.0f} s after the start")
    status, parsed, _ = call(args.port, "GET", "/v1/jobs?state=running", args.key_a)
    running = parsed.get("data", []) if isinstance(parsed, dict) else []
    check("point 1: no job left running", status == 200 and not running, f"{len(running)} running")


def large_caller(args):
    """Point 3: one key sends the largest requests it may while another sends 48 small ones."""
    text = " ".join(["word"] * 254)  # 256 tokens with [CLS] and [SEP]
    status, parsed, _ = call(args.port, "POST", "/v1/embeddings", args.key_a, {"input": [text] * 2048})
    check("point 3: 2,048 texts x 256 tokens is refused up front", status == 400 and error_code(parsed) == "request_too_large",
          f"{status} {error_code(parsed)}")
    stop = threading.Event()

    def flood():
        while not stop.is_set():
            call(args.port, "POST", "/v1/embeddings", args.key_a, {"input": [text] * 512}, timeout=300)

    flooders = [threading.Thread(target=flood) for _ in range(2)]
    for thread in flooders:
        thread.start()
    time.sleep(3)
    small = [call(args.port, "POST", "/v1/embeddings", args.key_b, {"input": ["a small request"]}) for _ in range(48)]
    stop.set()
    ok = [seconds for status, _, seconds in small if status == 200]
    ok.sort()
    median = ok[len(ok) // 2] if ok else float("inf")
    check("point 3: another key is served while one sends 131k-token requests", len(ok) >= 46,
          f"{len(ok)} of 48 answered 200, median {median * 1000:.0f} ms, slowest {max(ok, default=0) * 1000:.0f} ms")
    for thread in flooders:
        thread.join()


def idle_connections(args):
    """Point 4: 1,100 idle connections from 127.0.0.1; another client (127.0.0.2) must still be served."""
    held = []
    for _ in range(1100):
        try:
            held.append(socket.create_connection(("127.0.0.1", args.port), timeout=5))
        except OSError:
            break
    time.sleep(1)
    answers = [call(args.port, "GET", "/v1/models", args.key_b, source="127.0.0.2")[0] for _ in range(48)]
    check("point 4: another address is served beside 1,100 idle connections", answers.count(200) == 48,
          f"{len(held)} held; {answers.count(200)} of 48 answered 200, others {sorted(set(answers) - {200})}")
    for connection in held:
        connection.close()


def shutdown_while_hung(args, postgres):
    subprocess.run(postgres.format(action="pause"), shell=True, check=True)
    time.sleep(2)
    started = time.monotonic()
    os.kill(args.server_pid, signal.SIGTERM)
    while time.monotonic() - started < 60:
        try:
            if os.waitpid(args.server_pid, os.WNOHANG)[0] != 0:
                break
        except ChildProcessError:
            try:
                os.kill(args.server_pid, 0)
            except ProcessLookupError:
                break
        time.sleep(0.1)
    took = time.monotonic() - started
    subprocess.run(postgres.format(action="resume"), shell=True, check=True)
    check("point 1: SIGTERM stops the server within its grace while PostgreSQL hangs", took < 30, f"{took:.1f} s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key-a", required=True)
    parser.add_argument("--key-b", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--postgres", required=True, help="command with {action}: down, up, pause, resume")
    args = parser.parse_args()
    wait_ready(args.port)
    database_restart(args, args.postgres)
    large_caller(args)
    idle_connections(args)
    shutdown_while_hung(args, args.postgres)
    print(f"{results.count(True)} of {len(results)} checks passed")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
