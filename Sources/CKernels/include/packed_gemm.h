#ifndef CONDUIT_PACKED_GEMM_H
#define CONDUIT_PACKED_GEMM_H

#include <stddef.h>

#include "kernel_set.h"

/// Output columns per packed panel.
#define CONDUIT_PANEL_WIDTH 16

/// Floats needed to pack an `n×k` weight: `n` rounded up to whole panels, times `k`.
size_t conduit_packed_size(size_t n, size_t k);

/// Packs `weight` (`n` rows of `k` floats: PyTorch's Linear layout, one row per output) into
/// panels of CONDUIT_PANEL_WIDTH outputs, each stored k-major so the kernel streams it linearly.
/// The last panel is padded with zeros. Every kernel reads the same packing; `packed` is 64-byte
/// aligned.
void conduit_pack_weight(const float *weight, size_t n, size_t k, float *packed);

/// Rows of `a` that `kernel` computes at once: row ranges starting on a multiple of it use its tiles whole.
size_t conduit_kernel_tile_rows(conduit_kernel kernel);

/// `c[m × columns] = a[m×k] · weightᵀ` for the output columns of panels `first_panel ..< end_panel`,
/// where `packed` is the whole weight packed by `conduit_pack_weight` and `n` its row count, computed
/// by `kernel` (which this CPU must run). Each output is accumulated over `k` in the same order
/// whatever `m` and the panel range are, so a row gives bit-identical results alone or inside any
/// batch.
void conduit_packed_gemm(
    conduit_kernel kernel, size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed,
    size_t first_panel, size_t end_panel, float *c, size_t ldc);

#endif
