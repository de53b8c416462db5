// The dense-layer product in 8-bit integers, for models served at `precision: int8`: a quarter of
// the weight's bytes to stream, and twice the multiply-adds per instruction of float32 FMA on AVX2.

#include "int8_gemm.h"

#include "packed_gemm.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// Rows per micro-tile: two 8-lane accumulators each, beside two weight registers, a broadcast and
/// the 16-bit ones, in AVX2's sixteen registers.
#define INT8_TILE_ROWS 4
/// Bytes of quantised rows per block, which stays in L1 and L2 while every panel passes over it.
#define INT8_BLOCK_BYTES (32 * 1024)

static size_t round_up_to_four(size_t k) { return (k + 3) / 4 * 4; }

size_t conduit_int8_row_bytes(size_t k) { return round_up_to_four(k); }

size_t conduit_int8_packed_size(size_t n, size_t k) {
    size_t panels = (n + CONDUIT_PANEL_WIDTH - 1) / CONDUIT_PANEL_WIDTH;
    return panels * CONDUIT_PANEL_WIDTH * round_up_to_four(k);
}

void conduit_int8_pack_weight(const float *weight, size_t n, size_t k, int8_t *packed, float *scales, int32_t *sums) {
    size_t k4 = round_up_to_four(k);
    memset(packed, 0, conduit_int8_packed_size(n, k));
    for (size_t row = 0; row < n; row++) {
        const float *w = weight + row * k;
        float largest = 0, poison = 0;
        for (size_t i = 0; i < k; i++) {
            largest = fmaxf(largest, fabsf(w[i]));
            poison += w[i] * 0;  // NaN once a weight is NaN or infinite
        }
        // A weight that is not a number makes the output not one, as in fp32; weights too small for a
        // normal scale count as zeros (a scale that underflowed would put bytes past the limit).
        int usable = poison == 0 && largest >= CONDUIT_INT8_WEIGHT_LIMIT * FLT_MIN;
        float scale = usable ? largest / CONDUIT_INT8_WEIGHT_LIMIT : poison == 0 ? 1 : NAN;
        int8_t *panel = packed + (row / CONDUIT_PANEL_WIDTH) * CONDUIT_PANEL_WIDTH * k4;
        size_t lane = row % CONDUIT_PANEL_WIDTH;
        int32_t sum = 0;
        for (size_t i = 0; i < k; i++) {
            long rounded = usable ? lrintf(w[i] / scale) : 0;
            int8_t q = (int8_t)(rounded < -CONDUIT_INT8_WEIGHT_LIMIT  ? -CONDUIT_INT8_WEIGHT_LIMIT
                                : rounded > CONDUIT_INT8_WEIGHT_LIMIT ? CONDUIT_INT8_WEIGHT_LIMIT
                                                                      : rounded);
            panel[(i / 4) * 4 * CONDUIT_PANEL_WIDTH + lane * 4 + i % 4] = q;
            sum += q;
        }
        scales[row] = scale;
        sums[row] = sum;
    }
}

void conduit_int8_quantize_rows(
    size_t rows, size_t k, const float *a, size_t lda, uint8_t *q, size_t ldq, float *row_scales, int32_t *zero_points) {
    size_t k4 = round_up_to_four(k);
    for (size_t r = 0; r < rows; r++) {
        const float *x = a + r * lda;
        // Conditional moves rather than fminf and fmaxf, whose rules for NaN keep the compiler from vectorising.
        float low = 0, high = 0, poison = 0;
        for (size_t i = 0; i < k; i++) {
            low = x[i] < low ? x[i] : low;
            high = x[i] > high ? x[i] : high;
            poison += x[i] * 0;  // NaN once a value is NaN or infinite
        }
        // A row with a value that is not a number gives outputs that are not numbers, as in fp32 (its
        // scale is NaN, its bytes zeros); a row too small for a normal scale counts as zeros.
        int usable = poison == 0 && high - low >= 255 * FLT_MIN;
        float scale = usable ? (high - low) / 255 : poison == 0 ? 1 : NAN;
        float inverse = usable ? 1 / scale : 0;
        int32_t zero = usable ? (int32_t)(-low * inverse + 0.5f) : 0;
        zero = zero < 0 ? 0 : zero > 255 ? 255 : zero;
        // Rounded half up by truncating what is never negative: lrintf, a call per value, cost more than
        // the products at a few rows.
        float offset = (float)zero + 0.5f;
        uint8_t *out = q + r * ldq;
        for (size_t i = 0; i < k; i++) {
            float v = x[i] * inverse + offset;
            v = v >= 0 ? v : 0;  // written so that NaN fails it: converting NaN to a byte is undefined
            v = v <= 255 ? v : 255;
            out[i] = (uint8_t)v;
        }
        for (size_t i = k; i < k4; i++) out[i] = (uint8_t)zero;
        row_scales[r] = scale;
        zero_points[r] = zero;
    }
}

/// The exact integer dot products of `rows` quantised rows with one panel's sixteen outputs.
typedef void (*int8_tile)(size_t rows, size_t groups, const uint8_t *q, size_t k4, const int8_t *panel, int32_t *dots);

static void tile_generic(size_t rows, size_t groups, const uint8_t *q, size_t k4, const int8_t *panel, int32_t *dots) {
    for (size_t r = 0; r < rows; r++) {
        int32_t acc[CONDUIT_PANEL_WIDTH] = {0};
        const uint8_t *x = q + r * k4;
        for (size_t g = 0; g < groups; g++) {
            const int8_t *w = panel + g * 4 * CONDUIT_PANEL_WIDTH;
            for (int lane = 0; lane < CONDUIT_PANEL_WIDTH; lane++) {
                for (int b = 0; b < 4; b++) acc[lane] += (int32_t)x[g * 4 + b] * w[lane * 4 + b];
            }
        }
        memcpy(dots + r * CONDUIT_PANEL_WIDTH, acc, sizeof acc);
    }
}

#if defined(__x86_64__)
#define AVX2_KERNEL __attribute__((target("avx2,fma"), always_inline)) static inline

AVX2_KERNEL void tile_avx2_rows(int rows, size_t groups, const uint8_t *q, size_t k4, const int8_t *panel, int32_t *dots) {
    __m256i low[INT8_TILE_ROWS], high[INT8_TILE_ROWS];
    const __m256i ones = _mm256_set1_epi16(1);
    for (int r = 0; r < rows; r++) low[r] = high[r] = _mm256_setzero_si256();
    for (size_t g = 0; g < groups; g++) {
        __m256i w0 = _mm256_load_si256((const __m256i *)(panel + g * 64));
        __m256i w1 = _mm256_load_si256((const __m256i *)(panel + g * 64 + 32));
        for (int r = 0; r < rows; r++) {
            int32_t four;
            memcpy(&four, q + r * k4 + g * 4, 4);
            __m256i x = _mm256_set1_epi32(four);
            low[r] = _mm256_add_epi32(low[r], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w0), ones));
            high[r] = _mm256_add_epi32(high[r], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w1), ones));
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm256_storeu_si256((__m256i *)(dots + r * CONDUIT_PANEL_WIDTH), low[r]);
        _mm256_storeu_si256((__m256i *)(dots + r * CONDUIT_PANEL_WIDTH + 8), high[r]);
    }
}

__attribute__((target("avx2,fma"))) static void tile_avx2(
    size_t rows, size_t groups, const uint8_t *q, size_t k4, const int8_t *panel, int32_t *dots) {
    switch (rows) {
    case 1: tile_avx2_rows(1, groups, q, k4, panel, dots); break;
    case 2: tile_avx2_rows(2, groups, q, k4, panel, dots); break;
    case 3: tile_avx2_rows(3, groups, q, k4, panel, dots); break;
    default: tile_avx2_rows(4, groups, q, k4, panel, dots); break;
    }
}
#endif

void conduit_int8_gemm_quantized(
    conduit_kernel kernel, size_t m, size_t n, size_t k, const uint8_t *q, size_t ldq, const float *row_scales,
    const int32_t *zero_points, const int8_t *packed, const float *scales, const int32_t *sums, size_t first_panel,
    size_t end_panel, float *c, size_t ldc) {
    size_t panels = (n + CONDUIT_PANEL_WIDTH - 1) / CONDUIT_PANEL_WIDTH;
    if (end_panel > panels) end_panel = panels;
    size_t k4 = round_up_to_four(k);
    if (m == 0 || first_panel >= end_panel || ldq < k4 || !conduit_kernel_runs_here(kernel)) return;
    int8_tile tile = tile_generic;
#if defined(__x86_64__)
    // AVX-512 CPUs run the AVX2 tile: the same exact sums.
    if (kernel != CONDUIT_KERNEL_GENERIC) tile = tile_avx2;
#endif
    int32_t dots[INT8_TILE_ROWS * CONDUIT_PANEL_WIDTH];
    for (size_t p = first_panel; p < end_panel; p++) {
        const int8_t *panel = packed + p * CONDUIT_PANEL_WIDTH * k4;
        size_t column = p * CONDUIT_PANEL_WIDTH;
        size_t width = n - column < CONDUIT_PANEL_WIDTH ? n - column : CONDUIT_PANEL_WIDTH;
        float *out = c + (column - first_panel * CONDUIT_PANEL_WIDTH);
        for (size_t row = 0; row < m; row += INT8_TILE_ROWS) {
            size_t rows = m - row < INT8_TILE_ROWS ? m - row : INT8_TILE_ROWS;
            tile(rows, k4 / 4, q + row * ldq, ldq, panel, dots);
            for (size_t r = 0; r < rows; r++) {
                float row_scale = row_scales[row + r];
                int32_t zero = zero_points[row + r];
                float *destination = out + (row + r) * ldc;
                for (size_t lane = 0; lane < width; lane++) {
                    int32_t exact = dots[r * CONDUIT_PANEL_WIDTH + lane] - zero * sums[column + lane];
                    destination[lane] = row_scale * scales[column + lane] * (float)exact;
                }
            }
        }
    }
}

void conduit_int8_gemm(
    conduit_kernel kernel, size_t m, size_t n, size_t k, const float *a, size_t lda, const int8_t *packed,
    const float *scales, const int32_t *sums, size_t first_panel, size_t end_panel, float *c, size_t ldc) {
    if (m == 0 || lda < k) return;
    size_t k4 = round_up_to_four(k);
    size_t block = INT8_BLOCK_BYTES / k4 / INT8_TILE_ROWS * INT8_TILE_ROWS;
    if (block < INT8_TILE_ROWS) block = INT8_TILE_ROWS;
    uint8_t *q = aligned_alloc(64, (block * k4 + 63) / 64 * 64);
    float *row_scales = malloc(block * sizeof(float));
    int32_t *zero_points = malloc(block * sizeof(int32_t));
    if (!q || !row_scales || !zero_points) abort();
    for (size_t start = 0; start < m; start += block) {
        size_t rows = m - start < block ? m - start : block;
        conduit_int8_quantize_rows(rows, k, a + start * lda, lda, q, k4, row_scales, zero_points);
        conduit_int8_gemm_quantized(
            kernel, rows, n, k, q, k4, row_scales, zero_points, packed, scales, sums, first_panel, end_panel, c + start * ldc, ldc);
    }
    free(zero_points);
    free(row_scales);
    free(q);
}
