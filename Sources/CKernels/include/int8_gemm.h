#ifndef CONDUIT_INT8_GEMM_H
#define CONDUIT_INT8_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "kernel_set.h"

/// The largest magnitude of a quantised weight. Seven bits, not eight: AVX2's byte product
/// (`vpmaddubsw`) adds two products of an activation byte (0...255) and a weight into 16 bits and
/// saturates past 32,767, which 2 · 255 · 63 never reaches.
#define CONDUIT_INT8_WEIGHT_LIMIT 63

/// Inputs per quantisation group. Weights and activations each get a scale per group of this many
/// consecutive inputs, not one per whole row: a row's few large values then cost precision only in
/// their own group. On the reference texts one scale per row left the worst text at cosine 0.986 to
/// fp32; groups of 64 keep every text above 0.995 (docs/performance.md).
#define CONDUIT_INT8_GROUP 64

/// Groups of CONDUIT_INT8_GROUP inputs in a row of `k`: the last one is padded with zeros.
size_t conduit_int8_groups(size_t k);

/// Bytes needed to pack an `n×k` weight in int8: `n` rounded up to whole panels, times `k` rounded
/// up to whole groups.
size_t conduit_int8_packed_size(size_t n, size_t k);

/// Values in each of the weight's scale and sum arrays: a value per group of every panel's outputs.
size_t conduit_int8_weight_scale_count(size_t n, size_t k);

/// Quantises `weight` (`n` rows of `k` floats, one row per output) per output channel and group of
/// inputs, symmetric, to ±CONDUIT_INT8_WEIGHT_LIMIT, and packs it into panels of
/// CONDUIT_PANEL_WIDTH outputs: for each four consecutive inputs, the panel's outputs' four bytes
/// side by side (64 bytes), so one load and one broadcast of four activation bytes feed sixteen dot
/// products of four. Writes, for each panel and group, its outputs' scales (weight ≈ scale × byte)
/// and the sums of their bytes, which undo the activations' zero points: `scales` and `sums` hold
/// `conduit_int8_weight_scale_count` values. `packed` is 64-byte aligned.
void conduit_int8_pack_weight(const float *weight, size_t n, size_t k, int8_t *packed, float *scales, int32_t *sums);

/// Bytes per quantised row of `k` inputs: `k` rounded up to whole groups.
size_t conduit_int8_row_bytes(size_t k);

/// Quantises `rows` rows of `a` to bytes, each group of a row over its own range, which always holds
/// 0 (so the padding past `k` stays exact): x ≈ scale × (byte − zero point), off by half a step at
/// most (and the float rounding of the scale). Rows of `ldq` bytes in `q`; a scale and a zero point
/// per group, `conduit_int8_groups(k)` of them per row.
void conduit_int8_quantize_rows(
    size_t rows, size_t k, const float *a, size_t lda, uint8_t *q, size_t ldq, float *group_scales, int32_t *zero_points);

/// `conduit_int8_gemm` on rows already quantised by `conduit_int8_quantize_rows`: for a product
/// shared out by columns, each part then does not quantise every row again.
void conduit_int8_gemm_quantized(
    conduit_kernel kernel, size_t m, size_t n, size_t k, const uint8_t *q, size_t ldq, const float *group_scales,
    const int32_t *zero_points, const int8_t *packed, const float *scales, const int32_t *sums, size_t first_panel,
    size_t end_panel, float *c, size_t ldc);

/// `c[m × columns] ≈ a[m×k] · weightᵀ` for the output columns of panels `first_panel ..< end_panel`,
/// with the weight packed by `conduit_int8_pack_weight`: each group of each row of `a` is quantised
/// to bytes over its own range (a scale and a zero point), each group's products are summed exactly
/// in 32-bit integers and scaled back to floats, and the groups' results are added in order. A
/// row's result depends on that row alone, bit for bit, and is the same for every kernel.
void conduit_int8_gemm(
    conduit_kernel kernel, size_t m, size_t n, size_t k, const float *a, size_t lda, const int8_t *packed,
    const float *scales, const int32_t *sums, size_t first_panel, size_t end_panel, float *c, size_t ldc);

#endif
