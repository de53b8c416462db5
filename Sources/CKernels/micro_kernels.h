// The encoder's two kernels, the packed dense-layer product and fused attention, written once over
// 16-float vectors (one packed panel row) and instantiated once per instruction set by the
// kernels_*.c files. The compiler lowers a 16-float vector to one zmm register under AVX-512, two
// ymm under AVX2 and four xmm (or NEON) registers elsewhere, so every instruction set runs the
// same arithmetic in the same order: only the registers differ, and with them how many rows a
// micro-tile holds. Private to CKernels.
//
// Before including it, define:
//   SUFFIX               the instruction set's name: generic, avx2 or avx512
//   TARGET               the function attribute that enables it (empty for generic)
//   ROWS                 rows of `a` per micro-tile: as many accumulators as its registers hold
//                        beside one weight vector and one broadcast
//   MULTIPLY_ADD(x,y,z)  x·y + z, fused where the instruction set has FMA

#include "kernels.h"

#include <stdint.h>

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)
#define NAME(base) CONCAT(base, SUFFIX)
#define KERNEL TARGET __attribute__((always_inline)) static inline

_Static_assert(CONDUIT_PANEL_WIDTH == 16, "a panel row is one 16-float vector");

// Every function here is inlined into its instruction set's entry points, so no 64-byte vector
// crosses a call and the ABI that the compiler warns about never applies.
#pragma clang diagnostic ignored "-Wpsabi"

typedef float panel_vector __attribute__((vector_size(64)));
typedef float unaligned_panel_vector __attribute__((vector_size(64), aligned(4)));
typedef int32_t panel_integers __attribute__((vector_size(64)));

KERNEL panel_vector NAME(splat_)(float x) { return x - (panel_vector){0}; }

// Stores the first `width` lanes of `v` (all 16 in the common case of a whole panel).
KERNEL void NAME(store_lanes_)(float *p, panel_vector v, int width) {
    if (width == CONDUIT_PANEL_WIDTH) {
        *(unaligned_panel_vector *)p = v;
    } else {
        for (int lane = 0; lane < width; lane++) p[lane] = v[lane];
    }
}

// `rows` (1...ROWS) rows of `a` times one panel (CONDUIT_PANEL_WIDTH columns stored k-major), into
// the first `width` columns of `c`. `rows` is a constant at every call site, so the compiler unrolls
// the row loops and keeps every accumulator in a register. Each output is one chain of
// multiply-adds over `k` in order, whatever `rows` is: a row's result does not depend on its batch.
//
// When `prefetch` is not null, the panel it points to is brought into L2, one cache line per step
// of `k`. At a few dozen rows the weight comes from memory (a small model's weights exceed the
// L3 cache), and the hardware prefetcher alone leaves the kernel waiting on each new panel:
// fetching the next panel while this one is computed took a forward pass of 17 tokens from 5.5 to
// 3.5 ms on one core, near the 3.3 ms of a weight already in cache.
//
// When `row_scale` is not null, each output row is multiplied by its own factor before it is
// stored (attention's scaling and softmax division cost nothing more that way).
KERNEL void NAME(tile_)(
    int rows, size_t k, const float *a, size_t lda, const float *panel, const float *prefetch,
    const float *row_scale, float *c, size_t ldc, int width) {
    panel_vector sums[ROWS];
    for (int r = 0; r < rows; r++) sums[r] = NAME(splat_)(0);
    for (size_t i = 0; i < k; i++) {
        panel_vector weights = *(const panel_vector *)(panel + i * CONDUIT_PANEL_WIDTH);
        if (prefetch) __builtin_prefetch(prefetch + i * CONDUIT_PANEL_WIDTH, 0, 2);
        for (int r = 0; r < rows; r++) sums[r] = MULTIPLY_ADD(NAME(splat_)(a[r * lda + i]), weights, sums[r]);
    }
    for (int r = 0; r < rows; r++) {
        NAME(store_lanes_)(c + r * ldc, row_scale ? sums[r] * NAME(splat_)(row_scale[r]) : sums[r], width);
    }
}

// The micro-tile's entry points are functions of their own, not inlined into their callers' loops:
// there the compiler ran out of general registers and reloaded two pointers from the stack at every
// step of `k` (20 % slower on the dense layers).
#define TILE_ENTRY TARGET __attribute__((noinline)) static

// A whole tile: ROWS rows.
TILE_ENTRY void NAME(whole_tile_)(
    size_t k, const float *a, size_t lda, const float *panel, const float *prefetch, const float *row_scale, float *c,
    size_t ldc, int width) {
    NAME(tile_)(ROWS, k, a, lda, panel, prefetch, row_scale, c, ldc, width);
}

// `tile` for `rows` (0...ROWS) rows, with `rows` made a constant in each case.
TILE_ENTRY void NAME(tile_rows_)(
    size_t rows, size_t k, const float *a, size_t lda, const float *panel, const float *prefetch,
    const float *row_scale, float *c, size_t ldc, int width) {
#define TILE_CASE(n) \
    case n: NAME(tile_)(n, k, a, lda, panel, prefetch, row_scale, c, ldc, width); break;
    switch (rows) {
    TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4)
#if ROWS > 4
    TILE_CASE(5) TILE_CASE(6)
#endif
#if ROWS > 6
    TILE_CASE(7) TILE_CASE(8) TILE_CASE(9) TILE_CASE(10) TILE_CASE(11) TILE_CASE(12)
#endif
    default: break;
    }
#undef TILE_CASE
}
_Static_assert((ROWS == 4 || ROWS == 6 || ROWS == 12) && ROWS <= CONDUIT_MAX_TILE_ROWS, "tile_rows has a case for each row count up to ROWS");

// Rows of `a` per block: a block (at most about 192 KiB) stays in L2 while every panel passes over
// it, so a large batch does not stream all of `a` from memory once per panel.
static size_t NAME(rows_per_block_)(size_t k) {
    size_t rows = (48 * 1024 / (k ? k : 1)) / ROWS * ROWS;
    return rows < ROWS ? ROWS : rows;
}

TARGET void NAME(conduit_packed_gemm_)(
    size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed,
    size_t first_panel, size_t end_panel, float *c, size_t ldc) {
    size_t block = NAME(rows_per_block_)(k);
    size_t panels = (n + CONDUIT_PANEL_WIDTH - 1) / CONDUIT_PANEL_WIDTH;
    for (size_t block_start = 0; block_start < m; block_start += block) {
        size_t block_end = block_start + block < m ? block_start + block : m;
        for (size_t p = first_panel; p < end_panel; p++) {
            const float *panel = packed + p * CONDUIT_PANEL_WIDTH * k;
            size_t column = p * CONDUIT_PANEL_WIDTH;
            int width = n - column < CONDUIT_PANEL_WIDTH ? (int)(n - column) : CONDUIT_PANEL_WIDTH;
            float *out = c + (column - first_panel * CONDUIT_PANEL_WIDTH);
            // The first tile over a panel fetches the next one, even past `end_panel`: the thread
            // that works on the following columns then finds its first panel in cache.
            const float *next = p + 1 < panels ? panel + CONDUIT_PANEL_WIDTH * k : NULL;
            size_t row = block_start;
            for (; row + ROWS <= block_end; row += ROWS) {
                NAME(whole_tile_)(k, a + row * lda, lda, panel, next, NULL, out + row * ldc, ldc, width);
                next = NULL;
            }
            NAME(tile_rows_)(block_end - row, k, a + row * lda, lda, panel, next, NULL, out + row * ldc, ldc, width);
        }
    }
}

// e^x for x ≤ 0 (what a softmax takes after subtracting the row's maximum), with the Cephes
// polynomial: within a few ULP of the C library.
KERNEL panel_vector NAME(exp_nonpositive_)(panel_vector x) {
    const panel_vector magic = NAME(splat_)(12582912.0f);  // 1.5·2²³: adding it rounds to an integer
    x = __builtin_elementwise_max(x, NAME(splat_)(-87.3365448f));
    panel_vector shifted = MULTIPLY_ADD(x, NAME(splat_)(1.44269504088896341f), magic);
    panel_vector n = shifted - magic;
    x = MULTIPLY_ADD(-n, NAME(splat_)(0.693359375f), x);
    x = MULTIPLY_ADD(-n, NAME(splat_)(-2.12194440e-4f), x);
    panel_vector y = NAME(splat_)(1.9875691500e-4f);
    y = MULTIPLY_ADD(y, x, NAME(splat_)(1.3981999507e-3f));
    y = MULTIPLY_ADD(y, x, NAME(splat_)(8.3334519073e-3f));
    y = MULTIPLY_ADD(y, x, NAME(splat_)(4.1665795894e-2f));
    y = MULTIPLY_ADD(y, x, NAME(splat_)(1.6666665459e-1f));
    y = MULTIPLY_ADD(y, x, NAME(splat_)(5.0000001201e-1f));
    y = MULTIPLY_ADD(y, x * x, x) + NAME(splat_)(1.0f);
    panel_integers exponent = (((panel_integers)shifted - 0x4B400000) + 127) << 23;
    return y * (panel_vector)exponent;
}

// Replaces the first `length` floats of `row` by exp(x - max) and returns 1 / their sum. The row
// is readable up to `length` rounded up to a panel; what lies past `length` is set to zero.
KERNEL float NAME(softmax_numerators_)(float *row, size_t length) {
    size_t vectors = (length + CONDUIT_PANEL_WIDTH - 1) / CONDUIT_PANEL_WIDTH;
    panel_integers lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    panel_integers last_mask = lane < (int32_t)(length - (vectors - 1) * CONDUIT_PANEL_WIDTH);
    panel_vector negative_infinity = NAME(splat_)(-__builtin_inff());
    panel_vector maximum = negative_infinity;
    for (size_t v = 0; v < vectors; v++) {
        panel_vector x = *(const unaligned_panel_vector *)(row + v * CONDUIT_PANEL_WIDTH);
        if (v == vectors - 1) {
            x = (panel_vector)(((panel_integers)x & last_mask) | ((panel_integers)negative_infinity & ~last_mask));
        }
        maximum = __builtin_elementwise_max(maximum, x);
    }
    panel_vector row_maximum = NAME(splat_)(__builtin_reduce_max(maximum));
    panel_vector sum = NAME(splat_)(0);
    for (size_t v = 0; v < vectors; v++) {
        panel_vector e = NAME(exp_nonpositive_)(*(const unaligned_panel_vector *)(row + v * CONDUIT_PANEL_WIDTH) - row_maximum);
        if (v == vectors - 1) e = (panel_vector)((panel_integers)e & last_mask);
        *(unaligned_panel_vector *)(row + v * CONDUIT_PANEL_WIDTH) = e;
        sum += e;
    }
    float total = 0;
    for (int i = 0; i < CONDUIT_PANEL_WIDTH; i++) total += sum[i];
    return 1.0f / total;
}

// `rows` query rows of the head: scores against every key panel, softmax, then times V, each
// output row divided by its softmax sum as it is stored.
KERNEL void NAME(attend_rows_)(
    size_t rows, size_t length, size_t head_size, float scale, const float *q, size_t ld, const float *packed_keys,
    const float *packed_values, float *scores, float *out, size_t ldo) {
    size_t stride = conduit_round_up_to_panel(length);
    float scales[ROWS], inverse_sums[ROWS];
    for (int r = 0; r < ROWS; r++) scales[r] = scale;
    for (size_t key = 0; key < stride; key += CONDUIT_PANEL_WIDTH) {
        int width = length - key < CONDUIT_PANEL_WIDTH ? (int)(length - key) : CONDUIT_PANEL_WIDTH;
        const float *panel = packed_keys + key * head_size;
        if (rows == ROWS) NAME(whole_tile_)(head_size, q, ld, panel, NULL, scales, scores + key, stride, width);
        else NAME(tile_rows_)(rows, head_size, q, ld, panel, NULL, scales, scores + key, stride, width);
    }
    for (size_t r = 0; r < rows; r++) inverse_sums[r] = NAME(softmax_numerators_)(scores + r * stride, length);
    for (size_t column = 0; column < head_size; column += CONDUIT_PANEL_WIDTH) {
        int width = head_size - column < CONDUIT_PANEL_WIDTH ? (int)(head_size - column) : CONDUIT_PANEL_WIDTH;
        const float *panel = packed_values + column * length;
        if (rows == ROWS) NAME(whole_tile_)(length, scores, stride, panel, NULL, inverse_sums, out + column, ldo, width);
        else NAME(tile_rows_)(rows, length, scores, stride, panel, NULL, inverse_sums, out + column, ldo, width);
    }
}

TARGET void NAME(conduit_attention_head_)(
    size_t length, size_t head_size, float scale, const float *q, const float *k, const float *v, size_t ld,
    float *scratch, float *out, size_t ldo) {
    size_t stride = conduit_round_up_to_panel(length);
    float *packed_keys = scratch;                                     // kᵀ: panels of 16 keys, each head_size × 16
    float *packed_values = packed_keys + stride * head_size;          // v: panels of 16 columns, each length × 16
    float *scores = packed_values + conduit_round_up_to_panel(head_size) * length;  // ROWS rows of `stride`
    for (size_t key = 0; key < stride; key++) {
        float *panel = packed_keys + key / CONDUIT_PANEL_WIDTH * CONDUIT_PANEL_WIDTH * head_size + key % CONDUIT_PANEL_WIDTH;
        for (size_t d = 0; d < head_size; d++) panel[d * CONDUIT_PANEL_WIDTH] = key < length ? k[key * ld + d] : 0;
    }
    for (size_t column = 0; column < head_size; column += CONDUIT_PANEL_WIDTH) {
        float *panel = packed_values + column * length;
        size_t width = head_size - column < CONDUIT_PANEL_WIDTH ? head_size - column : CONDUIT_PANEL_WIDTH;
        for (size_t i = 0; i < length; i++) {
            float *destination = panel + i * CONDUIT_PANEL_WIDTH;
            if (width == CONDUIT_PANEL_WIDTH) {
                *(panel_vector *)destination = *(const unaligned_panel_vector *)(v + i * ld + column);
            } else {
                for (size_t lane = 0; lane < CONDUIT_PANEL_WIDTH; lane++) destination[lane] = lane < width ? v[i * ld + column + lane] : 0;
            }
        }
    }
    size_t row = 0;
    for (; row + ROWS <= length; row += ROWS)
        NAME(attend_rows_)(ROWS, length, head_size, scale, q + row * ld, ld, packed_keys, packed_values, scores, out + row * ldo, ldo);
    if (row < length)
        NAME(attend_rows_)(length - row, length, head_size, scale, q + row * ld, ld, packed_keys, packed_values, scores, out + row * ldo, ldo);
}

#undef CONCAT_
#undef CONCAT
#undef NAME
#undef KERNEL
#undef TILE_ENTRY
