#ifndef CONDUIT_ATTENTION_H
#define CONDUIT_ATTENTION_H

#include <stddef.h>

#include "kernel_set.h"

/// Floats of scratch memory one call of `conduit_attention_head` needs for `length` tokens, with any kernel.
size_t conduit_attention_scratch_size(size_t length, size_t head_size);

/// One head of scaled dot-product attention over one sequence, without a mask:
/// `out = softmax(scale · q·kᵀ) · v`, computed by `kernel` (which this CPU must run). `q`, `k` and
/// `v` are `length` rows of `head_size` floats whose rows are `ld` floats apart; `out` rows are
/// `ldo` floats apart. `scratch` is 64-byte aligned and holds
/// `conduit_attention_scratch_size(length, head_size)` floats.
void conduit_attention_head(
    conduit_kernel kernel, size_t length, size_t head_size, float scale, const float *q, const float *k, const float *v,
    size_t ld, float *scratch, float *out, size_t ldo);

#endif
