// Attention for one sequence and head in a single pass over blocks of query rows: the scores of a
// block, its softmax and its product with V are done while the block's scores are still in L1.
// General BLAS writes the whole length×length score matrix (256 KiB at 256 tokens, more than L2
// holds with everything else), reads it back for the softmax, and again for the product with V,
// and repacks K and V on each of those calls.

#include "attention.h"
#include "packed_gemm.h"

// Query rows per block: the micro-tile's row count (ROWS in avx2_tile.h).
#define BLOCK_ROWS 6

static size_t round_up_to_panel(size_t n) {
    return (n + CONDUIT_PANEL_WIDTH - 1) / CONDUIT_PANEL_WIDTH * CONDUIT_PANEL_WIDTH;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include "avx2_tile.h"

_Static_assert(BLOCK_ROWS == ROWS, "a block of queries is one micro-tile high");

// e^x for x ≤ 0 (what a softmax takes after subtracting the row's maximum), with the Cephes
// polynomial the Swift code uses elsewhere: within a few ULP of the C library.
KERNEL __m256 exp_nonpositive(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);  // 1.5·2²³: adding it rounds to an integer
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3365448f));
    __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), magic);
    __m256 n = _mm256_sub_ps(shifted, magic);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_add_ps(_mm256_fmadd_ps(y, _mm256_mul_ps(x, x), x), _mm256_set1_ps(1.0f));
    __m256i exponent = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000)), _mm256_set1_epi32(127)),
        23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(exponent));
}

// Replaces the first `length` floats of `row` by exp(x - max) and returns 1 / their sum. The row
// is readable up to `length` rounded up to 8; what lies past `length` is set to zero.
KERNEL float softmax_numerators(float *row, size_t length) {
    size_t vectors = (length + 7) / 8;
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 last_mask = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(length - (vectors - 1) * 8)), lane));
    __m256 negative_infinity = _mm256_set1_ps(-__builtin_inff());
    __m256 maximum = negative_infinity;
    for (size_t v = 0; v < vectors; v++) {
        __m256 x = _mm256_loadu_ps(row + v * 8);
        if (v == vectors - 1) x = _mm256_blendv_ps(negative_infinity, x, last_mask);
        maximum = _mm256_max_ps(maximum, x);
    }
    __m128 half = _mm_max_ps(_mm256_castps256_ps128(maximum), _mm256_extractf128_ps(maximum, 1));
    half = _mm_max_ps(half, _mm_movehl_ps(half, half));
    half = _mm_max_ss(half, _mm_shuffle_ps(half, half, 1));
    __m256 row_maximum = _mm256_broadcastss_ps(half);
    __m256 sum = _mm256_setzero_ps();
    for (size_t v = 0; v < vectors; v++) {
        __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(row + v * 8), row_maximum));
        if (v == vectors - 1) e = _mm256_and_ps(e, last_mask);
        _mm256_storeu_ps(row + v * 8, e);
        sum = _mm256_add_ps(sum, e);
    }
    __m128 total = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
    total = _mm_add_ps(total, _mm_movehl_ps(total, total));
    total = _mm_add_ss(total, _mm_shuffle_ps(total, total, 1));
    return 1.0f / _mm_cvtss_f32(total);
}

// `rows` query rows of the head: scores against every key panel, softmax, then times V, each
// output row divided by its softmax sum as it is stored.
KERNEL void attend_rows(
    size_t rows, size_t length, size_t head_size, float scale, const float *q, size_t ld, const float *packed_keys,
    const float *packed_values, float *scores, float *out, size_t ldo) {
    size_t stride = round_up_to_panel(length);
    float scales[ROWS], inverse_sums[ROWS];
    for (int r = 0; r < ROWS; r++) scales[r] = scale;
    for (size_t p = 0; p < stride / CONDUIT_PANEL_WIDTH; p++) {
        size_t key = p * CONDUIT_PANEL_WIDTH;
        int width = length - key < CONDUIT_PANEL_WIDTH ? (int)(length - key) : CONDUIT_PANEL_WIDTH;
        const float *panel = packed_keys + p * CONDUIT_PANEL_WIDTH * head_size;
        if (rows == ROWS) tile(ROWS, head_size, q, ld, panel, NULL, scales, scores + key, stride, width);
        else tile_rest(rows, head_size, q, ld, panel, NULL, scales, scores + key, stride, width);
    }
    for (size_t r = 0; r < rows; r++) inverse_sums[r] = softmax_numerators(scores + r * stride, length);
    for (size_t column = 0; column < head_size; column += CONDUIT_PANEL_WIDTH) {
        const float *panel = packed_values + column * length;
        if (rows == ROWS) tile(ROWS, length, scores, stride, panel, NULL, inverse_sums, out + column, ldo, CONDUIT_PANEL_WIDTH);
        else tile_rest(rows, length, scores, stride, panel, NULL, inverse_sums, out + column, ldo, CONDUIT_PANEL_WIDTH);
    }
}

ENTRY void attention_head_avx2(
    size_t length, size_t head_size, float scale, const float *q, const float *k, const float *v, size_t ld,
    float *scratch, float *out, size_t ldo) {
    size_t stride = round_up_to_panel(length);
    float *packed_keys = scratch;                       // kᵀ: panels of 16 keys, each head_size × 16
    float *packed_values = packed_keys + stride * head_size;  // v: panels of 16 columns, each length × 16
    float *scores = packed_values + length * head_size;  // BLOCK_ROWS rows of `stride`
    for (size_t key = 0; key < stride; key++) {
        float *panel = packed_keys + key / CONDUIT_PANEL_WIDTH * CONDUIT_PANEL_WIDTH * head_size + key % CONDUIT_PANEL_WIDTH;
        for (size_t d = 0; d < head_size; d++) panel[d * CONDUIT_PANEL_WIDTH] = key < length ? k[key * ld + d] : 0;
    }
    for (size_t column = 0; column < head_size; column += CONDUIT_PANEL_WIDTH) {
        float *panel = packed_values + column * length;
        for (size_t i = 0; i < length; i++) {
            _mm256_store_ps(panel + i * CONDUIT_PANEL_WIDTH, _mm256_loadu_ps(v + i * ld + column));
            _mm256_store_ps(panel + i * CONDUIT_PANEL_WIDTH + 8, _mm256_loadu_ps(v + i * ld + column + 8));
        }
    }
    size_t row = 0;
    for (; row + ROWS <= length; row += ROWS)
        attend_rows(ROWS, length, head_size, scale, q + row * ld, ld, packed_keys, packed_values, scores, out + row * ldo, ldo);
    if (row < length)
        attend_rows(length - row, length, head_size, scale, q + row * ld, ld, packed_keys, packed_values, scores, out + row * ldo, ldo);
}

int conduit_attention_supported(size_t head_size) {
    return conduit_packed_gemm_supported() && head_size > 0 && head_size % CONDUIT_PANEL_WIDTH == 0;
}

void conduit_attention_head(
    size_t length, size_t head_size, float scale, const float *q, const float *k, const float *v, size_t ld,
    float *scratch, float *out, size_t ldo) {
    if (length == 0 || !conduit_attention_supported(head_size)) return;
    attention_head_avx2(length, head_size, scale, q, k, v, ld, scratch, out, ldo);
}

#else

int conduit_attention_supported(size_t head_size) { (void)head_size; return 0; }

void conduit_attention_head(
    size_t length, size_t head_size, float scale, const float *q, const float *k, const float *v, size_t ld,
    float *scratch, float *out, size_t ldo) {
    (void)length; (void)head_size; (void)scale; (void)q; (void)k; (void)v; (void)ld; (void)scratch; (void)out; (void)ldo;
}

#endif

size_t conduit_attention_scratch_size(size_t length, size_t head_size) {
    size_t stride = round_up_to_panel(length);
    return stride * head_size + length * head_size + BLOCK_ROWS * stride;
}
