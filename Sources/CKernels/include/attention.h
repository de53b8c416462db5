#ifndef CONDUIT_ATTENTION_H
#define CONDUIT_ATTENTION_H

#include <stddef.h>

/// Whether `conduit_attention_head` runs on this CPU for heads of `head_size`: x86-64 with AVX2
/// and FMA, and a head size that is a multiple of CONDUIT_PANEL_WIDTH. When it does not, callers
/// compute attention with general BLAS products instead.
int conduit_attention_supported(size_t head_size);

/// Floats of scratch memory one call of `conduit_attention_head` needs for `length` tokens.
size_t conduit_attention_scratch_size(size_t length, size_t head_size);

/// One head of scaled dot-product attention over one sequence, without a mask:
/// `out = softmax(scale · q·kᵀ) · v`. `q`, `k` and `v` are `length` rows of `head_size` floats
/// whose rows are `ld` floats apart; `out` rows are `ldo` floats apart. `scratch` is 64-byte
/// aligned and holds `conduit_attention_scratch_size(length, head_size)` floats. Only call it
/// where `conduit_attention_supported(head_size)` says so.
void conduit_attention_head(
    size_t length, size_t head_size, float scale, const float *q, const float *k, const float *v, size_t ld,
    float *scratch, float *out, size_t ldo);

#endif
