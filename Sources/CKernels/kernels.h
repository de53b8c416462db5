// The entry points each kernels_*.c file instantiates from micro_kernels.h. Private to CKernels.

#ifndef CONDUIT_KERNELS_H
#define CONDUIT_KERNELS_H

#include <stddef.h>

#include "packed_gemm.h"

/// Rows of `a` per micro-tile of each kernel (its ROWS): as many accumulators as its registers hold.
#define CONDUIT_TILE_ROWS_GENERIC 4
#define CONDUIT_TILE_ROWS_AVX2 6
#define CONDUIT_TILE_ROWS_AVX512 12

/// The most query rows a micro-tile of any kernel holds: attention's scratch has room for a block of them.
#define CONDUIT_MAX_TILE_ROWS CONDUIT_TILE_ROWS_AVX512

#define CONDUIT_DECLARE_KERNELS(suffix)                                                                        \
    void conduit_packed_gemm_##suffix(                                                                         \
        size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed, size_t first_panel,     \
        size_t end_panel, float *c, size_t ldc);                                                               \
    void conduit_attention_head_##suffix(                                                                      \
        size_t length, size_t head_size, float scale, const float *q, const float *k, const float *v, size_t ld, \
        float *scratch, float *out, size_t ldo);

static inline size_t conduit_round_up_to_panel(size_t n) {
    return (n + CONDUIT_PANEL_WIDTH - 1) / CONDUIT_PANEL_WIDTH * CONDUIT_PANEL_WIDTH;
}

CONDUIT_DECLARE_KERNELS(generic)
#if defined(__x86_64__)
CONDUIT_DECLARE_KERNELS(avx2)
CONDUIT_DECLARE_KERNELS(avx512)
#endif

#endif
