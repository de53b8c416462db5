#!/usr/bin/env python3
"""Deterministic benchmark corpora of English-like text.

Two corpora, 2,000 texts each (defaults):
  short: one sentence of 8-16 words
  long:  150-200 words in several sentences (about 200-256 word pieces
         with the all-MiniLM-L6-v2 uncased WordPiece tokenizer)

Texts are built from a fixed vocabulary of common English words, with
punctuation, numbers, accented words (café, naïve), a few CJK characters
and an emoji, so that tokenizer edge cases appear.  Output is identical on
every run and every machine (seeded random.Random, no hash ordering, pure
Python; no third-party package needed).

Usage:
  python make_corpus.py                  # writes corpus_short.jsonl, corpus_long.jsonl into benchmarks/.corpus
  python make_corpus.py --out-dir DIR --n 2000 --seed 20240601
  python make_corpus.py --print-stats    # counts, bytes, sha256 of each corpus

From other scripts:
  from make_corpus import load_corpus
  texts = load_corpus("short")   # reads the .jsonl if present, else generates in memory

Each .jsonl line: {"id": <int>, "text": <str>}
"""
import argparse
import hashlib
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SEED = 20240601
DEFAULT_N = 2000

# --- fixed vocabulary (order matters for determinism; never sort or dedupe via set) ---
DETERMINERS = ["the", "a", "this", "that", "every", "some", "our", "their", "my", "your", "each", "no"]
ADJECTIVES = [
    "small", "large", "quick", "quiet", "bright", "dark", "old", "new", "early", "late", "simple",
    "careful", "strange", "happy", "tired", "local", "public", "private", "green", "blue", "red",
    "warm", "cold", "heavy", "light", "fast", "slow", "open", "empty", "full", "busy", "clean",
    "modern", "ancient", "narrow", "wide", "honest", "famous", "naïve", "curious", "useful", "rare",
]
NOUNS = [
    "city", "river", "house", "garden", "teacher", "student", "engine", "server", "window", "table",
    "market", "village", "bridge", "machine", "report", "letter", "question", "answer", "model",
    "network", "library", "kitchen", "doctor", "child", "family", "company", "museum", "station",
    "forest", "mountain", "island", "computer", "program", "language", "country", "office", "road",
    "café", "résumé", "façade", "jalapeño", "piano", "camera", "weather", "morning", "evening",
    "meeting", "budget", "record", "journey", "friend", "neighbor", "painting", "story", "system",
    "request", "response", "customer", "product", "document", "picture", "result", "problem",
]
VERBS_T = [
    "found", "built", "opened", "closed", "moved", "painted", "visited", "checked", "wrote", "read",
    "fixed", "sold", "bought", "carried", "watched", "measured", "described", "shared", "cleaned",
    "changed", "followed", "remembered", "needed", "created", "tested", "sent", "received", "loaded",
]
VERBS_I = [
    "arrived", "waited", "slept", "worked", "smiled", "laughed", "failed", "started", "stopped",
    "returned", "improved", "disappeared", "continued", "agreed", "travelled", "listened",
]
ADVERBS = [
    "quickly", "slowly", "carefully", "quietly", "finally", "suddenly", "often", "rarely", "again",
    "almost", "really", "probably", "never", "always", "together", "yesterday", "today", "later",
]
PREPOSITIONS = ["in", "on", "near", "behind", "under", "after", "before", "during", "without", "with", "across", "from"]
PLACES = [
    "Paris", "London", "Berlin", "Zürich", "München", "São Paulo", "Tokyo", "Kraków", "Montréal",
    "New York", "Québec", "Reykjavík", "Lisbon", "Madrid", "Oslo", "Seoul",
]
NAMES = ["Anna", "Ben", "Chloé", "David", "Élodie", "Farid", "Greta", "Hiro", "Inês", "José", "Kai", "Lena", "Mia", "Noah", "Zoë"]
CONNECTORS = ["and", "but", "because", "while", "although", "so", "when", "until"]
CJK = ["東京", "中文", "日本語", "北京", "漢字", "学生", "電車"]
EMOJI = ["🙂", "🚀", "☕", "👍", "🎉"]
UNITS = ["km", "kg", "minutes", "hours", "euros", "dollars", "percent", "pages", "people", "days"]


def _number(rng):
    k = rng.randrange(6)
    if k == 0:
        return str(rng.randrange(2, 100))
    if k == 1:
        return str(rng.randrange(1900, 2030))
    if k == 2:
        return "%d.%d" % (rng.randrange(0, 100), rng.randrange(0, 10))
    if k == 3:
        return "%d%%" % rng.randrange(1, 100)
    if k == 4:
        return "{:,}".format(rng.randrange(1000, 1000000))
    return "%d:%02d" % (rng.randrange(0, 24), rng.randrange(0, 60))


def _noun_phrase(rng):
    parts = [rng.choice(DETERMINERS)]
    if rng.random() < 0.5:
        parts.append(rng.choice(ADJECTIVES))
    parts.append(rng.choice(NOUNS))
    return parts


def _clause(rng):
    """A list of tokens (words and punctuation marks) forming one clause."""
    w = []
    r = rng.random()
    if r < 0.25:
        w.append(rng.choice(NAMES))
    else:
        w.extend(_noun_phrase(rng))
    if rng.random() < 0.25:
        w.append(rng.choice(ADVERBS))
    if rng.random() < 0.6:
        w.append(rng.choice(VERBS_T))
        w.extend(_noun_phrase(rng))
    else:
        w.append(rng.choice(VERBS_I))
    r = rng.random()
    if r < 0.35:
        w.append(rng.choice(PREPOSITIONS))
        w.append(rng.choice(PLACES) if rng.random() < 0.4 else " ".join(_noun_phrase(rng)))
    elif r < 0.55:
        w.extend([rng.choice(PREPOSITIONS[:2] + ["for", "about"]), _number(rng), rng.choice(UNITS)])
    return w


def _decorate(rng, words):
    """Sprinkle rare elements: CJK, emoji, parentheses, quotes, hyphenation."""
    r = rng.random()
    if r < 0.04:
        words.insert(rng.randrange(1, len(words) + 1), rng.choice(CJK))
    elif r < 0.07:
        words.insert(rng.randrange(1, len(words) + 1), rng.choice(EMOJI))
    elif r < 0.12 and len(words) > 3:
        i = rng.randrange(1, len(words) - 1)
        words[i] = "(" + words[i] + ")"
    elif r < 0.16 and len(words) > 3:
        i = rng.randrange(1, len(words) - 1)
        words[i] = '"' + words[i] + '"'
    elif r < 0.19 and len(words) > 3:
        i = rng.randrange(1, len(words) - 1)
        words[i] = words[i] + "-based"
    return words


def _sentence(rng, min_words, max_words):
    """One sentence with a word count in [min_words, max_words] (counting whitespace-separated words)."""
    while True:
        target = rng.randint(min_words, max_words)
        words = _clause(rng)
        while len(" ".join(words).split()) < target:
            words.append(",")
            words.append(rng.choice(CONNECTORS))
            words.extend(_clause(rng))
        words = " ".join(words).replace(" ,", ",").split()
        words = words[:target]
        # never end on a comma or a connector
        while len(words) > 1 and (words[-1].endswith(",") or words[-1] in CONNECTORS):
            words = words[:-1]
        if len(words) >= min_words:
            break
    words = _decorate(rng, words)
    s = " ".join(words)
    s = s[0].upper() + s[1:]
    end = rng.random()
    s = s.rstrip(",") + ("?" if end < 0.1 else "!" if end < 0.15 else ".")
    return s


def make_short(rng):
    return _sentence(rng, 8, 16)


def make_long(rng):
    target = rng.randint(150, 200)
    sents = []
    count = 0
    while count < target:
        remaining = target - count
        lo, hi = 8, 24
        if remaining < lo:
            lo = hi = max(remaining, 3)
        elif remaining < hi:
            hi = remaining
        s = _sentence(rng, lo, hi)
        sents.append(s)
        count += len(s.split())
    return " ".join(sents)


def generate(kind, n=DEFAULT_N, seed=DEFAULT_SEED):
    if kind not in ("short", "long"):
        raise ValueError("kind must be 'short' or 'long'")
    # a distinct, fixed stream per corpus kind
    rng = random.Random("%d/%s" % (seed, kind))
    fn = make_short if kind == "short" else make_long
    return [fn(rng) for _ in range(n)]


def corpus_path(kind, out_dir=None):
    return os.path.join(out_dir or os.environ.get("CORPUS_DIR", os.path.join(HERE, "..", ".corpus")), "corpus_%s.jsonl" % kind)


def write_jsonl(path, texts):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")


def load_corpus(kind, n=None, out_dir=None):
    """Texts of one corpus: from corpus_<kind>.jsonl when present, else generated in memory."""
    p = corpus_path(kind, out_dir)
    if os.path.exists(p):
        with open(p, encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f if line.strip()]
    else:
        texts = generate(kind, DEFAULT_N)
    return texts if n is None else texts[:n]


def sha256_texts(texts):
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.environ.get("CORPUS_DIR", os.path.join(HERE, "..", ".corpus")))
    ap.add_argument("--n", type=int, default=DEFAULT_N)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--max-bytes", type=int, default=16 * 1024 * 1024,
                    help="do not write a corpus file larger than this (it is then generated on the fly by load_corpus)")
    ap.add_argument("--print-stats", action="store_true", help="only print stats, write nothing")
    args = ap.parse_args()
    for kind in ("short", "long"):
        texts = generate(kind, args.n, args.seed)
        words = [len(t.split()) for t in texts]
        blob = "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts))
        size = len(blob.encode("utf-8"))
        info = "%s: n=%d words min/mean/max=%d/%.1f/%d bytes(jsonl)=%d sha256(texts)=%s" % (
            kind, len(texts), min(words), sum(words) / len(words), max(words), size, sha256_texts(texts))
        path = corpus_path(kind, args.out_dir)
        if args.print_stats:
            print(info)
            continue
        if size > args.max_bytes:
            if os.path.exists(path):
                os.remove(path)
            print(info + "  -> NOT written (over --max-bytes); load_corpus() generates it on the fly")
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_jsonl(path, texts)
            print(info + "  -> " + path)


if __name__ == "__main__":
    sys.exit(main())
