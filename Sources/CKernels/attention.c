// Attention for one sequence and head in a single pass over blocks of query rows: the scores of a
// block, its softmax and its product with V are done while the block's scores are still in L1.
// General BLAS writes the whole length×length score matrix (256 KiB at 256 tokens, more than L2
// holds with everything else), reads it back for the softmax, and again for the product with V,
// and repacks K and V on each of those calls.

#include "attention.h"

#include "kernels.h"

size_t conduit_attention_scratch_size(size_t length, size_t head_size) {
    // Packed keys, packed values, and the scores of one block of query rows.
    return conduit_round_up_to_panel(length) * head_size + conduit_round_up_to_panel(head_size) * length + CONDUIT_MAX_TILE_ROWS * conduit_round_up_to_panel(length);
}

void conduit_attention_head(
    conduit_kernel kernel, size_t length, size_t head_size, float scale, const float *q, const float *k, const float *v,
    size_t ld, float *scratch, float *out, size_t ldo) {
    if (length == 0 || head_size == 0 || !conduit_kernel_runs_here(kernel)) return;
    switch (kernel) {
#if defined(__x86_64__)
    case CONDUIT_KERNEL_AVX512: conduit_attention_head_avx512(length, head_size, scale, q, k, v, ld, scratch, out, ldo); return;
    case CONDUIT_KERNEL_AVX2: conduit_attention_head_avx2(length, head_size, scale, q, k, v, ld, scratch, out, ldo); return;
#endif
    default: conduit_attention_head_generic(length, head_size, scale, q, k, v, ld, scratch, out, ldo); return;
    }
}
