// The AVX2 micro-kernel shared by the packed dense-layer product and attention. Private to
// CKernels: included only by its .c files, inside their x86-64 sections.

#ifndef CONDUIT_AVX2_TILE_H
#define CONDUIT_AVX2_TILE_H

#include "packed_gemm.h"

#include <immintrin.h>

#define KERNEL __attribute__((target("avx2,fma"), always_inline)) static inline
#define ENTRY __attribute__((target("avx2,fma"))) static

// Rows of `a` per micro-tile: ROWS × 2 accumulators plus two weight vectors and one broadcast
// fill 15 of the 16 ymm registers.
#define ROWS 6

// `rows` (1...ROWS) rows of `a` times one panel (CONDUIT_PANEL_WIDTH columns stored k-major).
// `rows` is a constant at every call site, so the compiler unrolls the row loops and keeps every
// accumulator in a register.
//
// When `prefetch` is not null, the panel it points to is brought into L2, one cache line per step
// of `k`. At a few dozen rows the weight comes from memory (a small model's weights exceed the
// L3 cache), and the hardware prefetcher alone leaves the kernel waiting on each new panel:
// fetching the next panel while this one is computed took a forward pass of 17 tokens from 5.5 to
// 3.5 ms on one core, near the 3.3 ms of a weight already in cache.
//
// When `row_scale` is not null, each output row is multiplied by its own factor before it is
// stored (attention's scaling and softmax division cost nothing more that way).
KERNEL void tile(
    int rows, size_t k, const float *a, size_t lda, const float *panel, const float *prefetch,
    const float *row_scale, float *c, size_t ldc, int width) {
    __m256 low[ROWS], high[ROWS];
    for (int r = 0; r < rows; r++) {
        low[r] = _mm256_setzero_ps();
        high[r] = _mm256_setzero_ps();
    }
    for (size_t i = 0; i < k; i++) {
        __m256 w0 = _mm256_load_ps(panel + i * CONDUIT_PANEL_WIDTH);
        __m256 w1 = _mm256_load_ps(panel + i * CONDUIT_PANEL_WIDTH + 8);
        if (prefetch) _mm_prefetch((const char *)(prefetch + i * CONDUIT_PANEL_WIDTH), _MM_HINT_T1);
        for (int r = 0; r < rows; r++) {
            __m256 x = _mm256_broadcast_ss(a + r * lda + i);
            low[r] = _mm256_fmadd_ps(x, w0, low[r]);
            high[r] = _mm256_fmadd_ps(x, w1, high[r]);
        }
    }
    if (row_scale) {
        for (int r = 0; r < rows; r++) {
            __m256 factor = _mm256_broadcast_ss(row_scale + r);
            low[r] = _mm256_mul_ps(low[r], factor);
            high[r] = _mm256_mul_ps(high[r], factor);
        }
    }
    if (width == CONDUIT_PANEL_WIDTH) {
        for (int r = 0; r < rows; r++) {
            _mm256_storeu_ps(c + r * ldc, low[r]);
            _mm256_storeu_ps(c + r * ldc + 8, high[r]);
        }
    } else {
        // A last, narrower panel: store only the lanes that are real outputs.
        __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        __m256i lowMask = _mm256_cmpgt_epi32(_mm256_set1_epi32(width), lane);
        __m256i highMask = _mm256_cmpgt_epi32(_mm256_set1_epi32(width - 8), lane);
        for (int r = 0; r < rows; r++) {
            _mm256_maskstore_ps(c + r * ldc, lowMask, low[r]);
            _mm256_maskstore_ps(c + r * ldc + 8, highMask, high[r]);
        }
    }
}

// `tile` for the `rows` (0...ROWS-1) rows left over after whole tiles, with `rows` made a constant.
KERNEL void tile_rest(
    size_t rows, size_t k, const float *a, size_t lda, const float *panel, const float *prefetch,
    const float *row_scale, float *c, size_t ldc, int width) {
    switch (rows) {
    case 1: tile(1, k, a, lda, panel, prefetch, row_scale, c, ldc, width); break;
    case 2: tile(2, k, a, lda, panel, prefetch, row_scale, c, ldc, width); break;
    case 3: tile(3, k, a, lda, panel, prefetch, row_scale, c, ldc, width); break;
    case 4: tile(4, k, a, lda, panel, prefetch, row_scale, c, ldc, width); break;
    case 5: tile(5, k, a, lda, panel, prefetch, row_scale, c, ldc, width); break;
    default: break;
    }
}

#endif
