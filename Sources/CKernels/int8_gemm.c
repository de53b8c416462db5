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

static size_t padded_inputs(size_t k) { return conduit_int8_groups(k) * CONDUIT_INT8_GROUP; }

static size_t panel_count(size_t n) { return (n + CONDUIT_PANEL_WIDTH - 1) / CONDUIT_PANEL_WIDTH; }

size_t conduit_int8_groups(size_t k) { return (k + CONDUIT_INT8_GROUP - 1) / CONDUIT_INT8_GROUP; }

size_t conduit_int8_row_bytes(size_t k) { return padded_inputs(k); }

size_t conduit_int8_packed_size(size_t n, size_t k) { return panel_count(n) * CONDUIT_PANEL_WIDTH * padded_inputs(k); }

size_t conduit_int8_weight_scale_count(size_t n, size_t k) {
    return panel_count(n) * CONDUIT_PANEL_WIDTH * conduit_int8_groups(k);
}

void conduit_int8_pack_weight(const float *weight, size_t n, size_t k, int8_t *packed, float *scales, int32_t *sums) {
    size_t kp = padded_inputs(k), groups = conduit_int8_groups(k);
    memset(packed, 0, conduit_int8_packed_size(n, k));
    memset(scales, 0, conduit_int8_weight_scale_count(n, k) * sizeof *scales);
    memset(sums, 0, conduit_int8_weight_scale_count(n, k) * sizeof *sums);
    for (size_t row = 0; row < n; row++) {
        int8_t *panel = packed + (row / CONDUIT_PANEL_WIDTH) * CONDUIT_PANEL_WIDTH * kp;
        size_t lane = row % CONDUIT_PANEL_WIDTH;
        for (size_t group = 0; group < groups; group++) {
            size_t begin = group * CONDUIT_INT8_GROUP;
            size_t end = begin + CONDUIT_INT8_GROUP < k ? begin + CONDUIT_INT8_GROUP : k;
            const float *w = weight + row * k;
            float largest = 0, poison = 0;
            for (size_t i = begin; i < end; i++) {
                largest = fmaxf(largest, fabsf(w[i]));
                poison += w[i] * 0;  // NaN once a weight is NaN or infinite
            }
            // A weight that is not a number makes the output not one, as in fp32; weights too small for a
            // normal scale count as zeros (a scale that underflowed would put bytes past the limit).
            int usable = poison == 0 && largest >= CONDUIT_INT8_WEIGHT_LIMIT * FLT_MIN;
            float scale = usable ? largest / CONDUIT_INT8_WEIGHT_LIMIT : poison == 0 ? 1 : NAN;
            int32_t sum = 0;
            for (size_t i = begin; i < end; i++) {
                long rounded = usable ? lrintf(w[i] / scale) : 0;
                int8_t q = (int8_t)(rounded < -CONDUIT_INT8_WEIGHT_LIMIT  ? -CONDUIT_INT8_WEIGHT_LIMIT
                                    : rounded > CONDUIT_INT8_WEIGHT_LIMIT ? CONDUIT_INT8_WEIGHT_LIMIT
                                                                          : rounded);
                panel[(i / 4) * 4 * CONDUIT_PANEL_WIDTH + lane * 4 + i % 4] = q;
                sum += q;
            }
            size_t at = ((row / CONDUIT_PANEL_WIDTH) * groups + group) * CONDUIT_PANEL_WIDTH + lane;
            scales[at] = scale;
            sums[at] = sum;
        }
    }
}

/// Quantises `count` values over their own range, with 0 in it, to bytes at `out`.
static void quantize_group(const float *x, size_t count, uint8_t *out, float *group_scale, int32_t *zero_point) {
    // Conditional moves rather than fminf and fmaxf, whose rules for NaN keep the compiler from vectorising.
    float low = 0, high = 0, poison = 0;
    for (size_t i = 0; i < count; i++) {
        low = x[i] < low ? x[i] : low;
        high = x[i] > high ? x[i] : high;
        poison += x[i] * 0;  // NaN once a value is NaN or infinite
    }
    // A group with a value that is not a number gives outputs that are not numbers, as in fp32 (its
    // scale is NaN, its bytes zeros); a group too small for a normal scale counts as zeros.
    int usable = poison == 0 && high - low >= 255 * FLT_MIN;
    float scale = usable ? (high - low) / 255 : poison == 0 ? 1 : NAN;
    float inverse = usable ? 1 / scale : 0;
    int32_t zero = usable ? (int32_t)(-low * inverse + 0.5f) : 0;
    zero = zero < 0 ? 0 : zero > 255 ? 255 : zero;
    // Rounded half up by truncating what is never negative: lrintf, a call per value, cost more than
    // the products at a few rows.
    float offset = (float)zero + 0.5f;
    for (size_t i = 0; i < count; i++) {
        float v = x[i] * inverse + offset;
        v = v >= 0 ? v : 0;  // written so that NaN fails it: converting NaN to a byte is undefined
        v = v <= 255 ? v : 255;
        out[i] = (uint8_t)v;
    }
    for (size_t i = count; i < CONDUIT_INT8_GROUP; i++) out[i] = (uint8_t)zero;
    *group_scale = scale;
    *zero_point = zero;
}

void conduit_int8_quantize_rows(
    size_t rows, size_t k, const float *a, size_t lda, uint8_t *q, size_t ldq, float *group_scales, int32_t *zero_points) {
    size_t groups = conduit_int8_groups(k);
    for (size_t r = 0; r < rows; r++) {
        for (size_t group = 0; group < groups; group++) {
            size_t begin = group * CONDUIT_INT8_GROUP;
            size_t count = k - begin < CONDUIT_INT8_GROUP ? k - begin : CONDUIT_INT8_GROUP;
            quantize_group(
                a + r * lda + begin, count, q + r * ldq + begin, group_scales + r * groups + group,
                zero_points + r * groups + group);
        }
    }
}

/// The products of `rows` quantised rows (`ldq` bytes apart) with one panel's sixteen outputs, added
/// to `results` (zeroed here): for each group, the exact integer dot products, less the zero
/// points' share, scaled back to floats. Each kernel's version rounds the same operations in the
/// same order (no fused multiply-add), so their results are the same bits.
typedef void (*int8_panel_rows)(
    size_t rows, size_t groups, const uint8_t *q, size_t ldq, const int8_t *panel, const float *group_scales,
    const int32_t *zero_points, const float *panel_scales, const int32_t *panel_sums, float *results);

#pragma clang fp contract(off)
static void panel_rows_generic(
    size_t rows, size_t groups, const uint8_t *q, size_t ldq, const int8_t *panel, const float *group_scales,
    const int32_t *zero_points, const float *panel_scales, const int32_t *panel_sums, float *results) {
    for (size_t r = 0; r < rows; r++) {
        const uint8_t *x = q + r * ldq;
        float *result = results + r * CONDUIT_PANEL_WIDTH;
        memset(result, 0, CONDUIT_PANEL_WIDTH * sizeof(float));
        for (size_t group = 0; group < groups; group++) {
            int32_t dots[CONDUIT_PANEL_WIDTH] = {0};
            for (size_t i = group * CONDUIT_INT8_GROUP; i < (group + 1) * CONDUIT_INT8_GROUP; i += 4) {
                const int8_t *w = panel + i * CONDUIT_PANEL_WIDTH;
                for (int lane = 0; lane < CONDUIT_PANEL_WIDTH; lane++) {
                    for (int b = 0; b < 4; b++) dots[lane] += (int32_t)x[i + b] * w[lane * 4 + b];
                }
            }
            float row_scale = group_scales[r * groups + group];
            int32_t zero = zero_points[r * groups + group];
            const float *scales = panel_scales + group * CONDUIT_PANEL_WIDTH;
            const int32_t *sums = panel_sums + group * CONDUIT_PANEL_WIDTH;
            for (int lane = 0; lane < CONDUIT_PANEL_WIDTH; lane++) {
                int32_t exact = dots[lane] - zero * sums[lane];
                result[lane] += row_scale * (scales[lane] * (float)exact);
            }
        }
    }
}

#if defined(__x86_64__)
#define AVX2_KERNEL __attribute__((target("avx2,fma"), always_inline)) static inline

/// `int8_panel_rows` for AVX2 with `rows` known when compiled: each group's sums stay in registers
/// from the products to their scaling.
AVX2_KERNEL void panel_rows_avx2_n(
    int rows, size_t groups, const uint8_t *q, size_t ldq, const int8_t *panel, const float *group_scales,
    const int32_t *zero_points, const float *panel_scales, const int32_t *panel_sums, float *results) {
    __m256 results_low[INT8_TILE_ROWS], results_high[INT8_TILE_ROWS];
    const __m256i ones = _mm256_set1_epi16(1);
    for (int r = 0; r < rows; r++) results_low[r] = results_high[r] = _mm256_setzero_ps();
    for (size_t group = 0; group < groups; group++) {
        __m256i low[INT8_TILE_ROWS], high[INT8_TILE_ROWS];
        for (int r = 0; r < rows; r++) low[r] = high[r] = _mm256_setzero_si256();
        const int8_t *weights = panel + group * CONDUIT_INT8_GROUP * CONDUIT_PANEL_WIDTH;
        const uint8_t *bytes = q + group * CONDUIT_INT8_GROUP;
        for (size_t g = 0; g < CONDUIT_INT8_GROUP / 4; g++) {
            __m256i w0 = _mm256_load_si256((const __m256i *)(weights + g * 64));
            __m256i w1 = _mm256_load_si256((const __m256i *)(weights + g * 64 + 32));
            for (int r = 0; r < rows; r++) {
                int32_t four;
                memcpy(&four, bytes + r * ldq + g * 4, 4);
                __m256i x = _mm256_set1_epi32(four);
                low[r] = _mm256_add_epi32(low[r], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w0), ones));
                high[r] = _mm256_add_epi32(high[r], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w1), ones));
            }
        }
        // panel_rows_generic's arithmetic, in the same order and rounding.
        const float *scales = panel_scales + group * CONDUIT_PANEL_WIDTH;
        const int32_t *sums = panel_sums + group * CONDUIT_PANEL_WIDTH;
        __m256 scale_low = _mm256_loadu_ps(scales), scale_high = _mm256_loadu_ps(scales + 8);
        __m256i sum_low = _mm256_loadu_si256((const __m256i *)sums);
        __m256i sum_high = _mm256_loadu_si256((const __m256i *)(sums + 8));
        for (int r = 0; r < rows; r++) {
            __m256 row_scale = _mm256_set1_ps(group_scales[r * groups + group]);
            __m256i zero = _mm256_set1_epi32(zero_points[r * groups + group]);
            __m256i exact_low = _mm256_sub_epi32(low[r], _mm256_mullo_epi32(zero, sum_low));
            __m256i exact_high = _mm256_sub_epi32(high[r], _mm256_mullo_epi32(zero, sum_high));
            results_low[r] = _mm256_add_ps(
                results_low[r], _mm256_mul_ps(row_scale, _mm256_mul_ps(scale_low, _mm256_cvtepi32_ps(exact_low))));
            results_high[r] = _mm256_add_ps(
                results_high[r], _mm256_mul_ps(row_scale, _mm256_mul_ps(scale_high, _mm256_cvtepi32_ps(exact_high))));
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm256_storeu_ps(results + r * CONDUIT_PANEL_WIDTH, results_low[r]);
        _mm256_storeu_ps(results + r * CONDUIT_PANEL_WIDTH + 8, results_high[r]);
    }
}

__attribute__((target("avx2,fma"))) static void panel_rows_avx2(
    size_t rows, size_t groups, const uint8_t *q, size_t ldq, const int8_t *panel, const float *group_scales,
    const int32_t *zero_points, const float *panel_scales, const int32_t *panel_sums, float *results) {
    switch (rows) {
#define ROWS(n) panel_rows_avx2_n(n, groups, q, ldq, panel, group_scales, zero_points, panel_scales, panel_sums, results)
    case 1: ROWS(1); break;
    case 2: ROWS(2); break;
    case 3: ROWS(3); break;
    default: ROWS(4); break;
#undef ROWS
    }
}
#endif
#pragma clang fp contract(on)

void conduit_int8_gemm_quantized(
    conduit_kernel kernel, size_t m, size_t n, size_t k, const uint8_t *q, size_t ldq, const float *group_scales,
    const int32_t *zero_points, const int8_t *packed, const float *scales, const int32_t *sums, size_t first_panel,
    size_t end_panel, float *c, size_t ldc) {
    size_t panels = panel_count(n);
    if (end_panel > panels) end_panel = panels;
    size_t groups = conduit_int8_groups(k), kp = padded_inputs(k);
    if (m == 0 || first_panel >= end_panel || ldq < kp || !conduit_kernel_runs_here(kernel)) return;
    int8_panel_rows panel_rows = panel_rows_generic;
#if defined(__x86_64__)
    // AVX-512 CPUs run the AVX2 code: the same exact sums.
    if (kernel != CONDUIT_KERNEL_GENERIC) panel_rows = panel_rows_avx2;
#endif
    float results[INT8_TILE_ROWS * CONDUIT_PANEL_WIDTH];
    for (size_t p = first_panel; p < end_panel; p++) {
        const int8_t *panel = packed + p * CONDUIT_PANEL_WIDTH * kp;
        const float *panel_scales = scales + p * groups * CONDUIT_PANEL_WIDTH;
        const int32_t *panel_sums = sums + p * groups * CONDUIT_PANEL_WIDTH;
        size_t column = p * CONDUIT_PANEL_WIDTH;
        size_t width = n - column < CONDUIT_PANEL_WIDTH ? n - column : CONDUIT_PANEL_WIDTH;
        float *out = c + (column - first_panel * CONDUIT_PANEL_WIDTH);
        for (size_t row = 0; row < m; row += INT8_TILE_ROWS) {
            size_t rows = m - row < INT8_TILE_ROWS ? m - row : INT8_TILE_ROWS;
            panel_rows(
                rows, groups, q + row * ldq, ldq, panel, group_scales + row * groups, zero_points + row * groups,
                panel_scales, panel_sums, results);
            for (size_t r = 0; r < rows; r++) memcpy(out + (row + r) * ldc, results + r * CONDUIT_PANEL_WIDTH, width * sizeof(float));
        }
    }
}

void conduit_int8_gemm(
    conduit_kernel kernel, size_t m, size_t n, size_t k, const float *a, size_t lda, const int8_t *packed,
    const float *scales, const int32_t *sums, size_t first_panel, size_t end_panel, float *c, size_t ldc) {
    if (m == 0 || lda < k) return;
    size_t kp = padded_inputs(k), groups = conduit_int8_groups(k);
    size_t block = kp == 0 ? m : INT8_BLOCK_BYTES / kp / INT8_TILE_ROWS * INT8_TILE_ROWS;
    if (block < INT8_TILE_ROWS) block = INT8_TILE_ROWS;
    uint8_t *q = aligned_alloc(64, (block * kp + 63) / 64 * 64 + 64);
    float *group_scales = malloc((block * groups + 1) * sizeof(float));
    int32_t *zero_points = malloc((block * groups + 1) * sizeof(int32_t));
    if (!q || !group_scales || !zero_points) abort();
    for (size_t start = 0; start < m; start += block) {
        size_t rows = m - start < block ? m - start : block;
        conduit_int8_quantize_rows(rows, k, a + start * lda, lda, q, kp, group_scales, zero_points);
        conduit_int8_gemm_quantized(
            kernel, rows, n, k, q, kp, group_scales, zero_points, packed, scales, sums, first_panel, end_panel,
            c + start * ldc, ldc);
    }
    free(zero_points);
    free(group_scales);
    free(q);
}
