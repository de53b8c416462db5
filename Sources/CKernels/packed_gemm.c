// A matrix product specialised for what an encoder does at small batch sizes: few rows (tokens)
// against a weight that never changes. General BLAS packs the weight into its kernel's layout on
// every call, which costs as much as the arithmetic when there are only a few dozen rows; here the
// weight is packed once, at load, and the kernel streams it as it lies.

#include "packed_gemm.h"

#include "kernels.h"

#include <string.h>

size_t conduit_packed_size(size_t n, size_t k) {
    size_t panels = (n + CONDUIT_PANEL_WIDTH - 1) / CONDUIT_PANEL_WIDTH;
    return panels * CONDUIT_PANEL_WIDTH * k;
}

void conduit_pack_weight(const float *weight, size_t n, size_t k, float *packed) {
    size_t panels = (n + CONDUIT_PANEL_WIDTH - 1) / CONDUIT_PANEL_WIDTH;
    memset(packed, 0, panels * CONDUIT_PANEL_WIDTH * k * sizeof(float));
    for (size_t row = 0; row < n; row++) {
        float *panel = packed + (row / CONDUIT_PANEL_WIDTH) * CONDUIT_PANEL_WIDTH * k;
        size_t lane = row % CONDUIT_PANEL_WIDTH;
        for (size_t i = 0; i < k; i++) panel[i * CONDUIT_PANEL_WIDTH + lane] = weight[row * k + i];
    }
}

size_t conduit_kernel_tile_rows(conduit_kernel kernel) {
    switch (kernel) {
    case CONDUIT_KERNEL_AVX512: return CONDUIT_TILE_ROWS_AVX512;
    case CONDUIT_KERNEL_AVX2: return CONDUIT_TILE_ROWS_AVX2;
    default: return CONDUIT_TILE_ROWS_GENERIC;
    }
}

void conduit_packed_gemm(
    conduit_kernel kernel, size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed,
    size_t first_panel, size_t end_panel, float *c, size_t ldc) {
    size_t panels = (n + CONDUIT_PANEL_WIDTH - 1) / CONDUIT_PANEL_WIDTH;
    if (end_panel > panels) end_panel = panels;  // never past the packed weight or the output row
    if (first_panel >= end_panel || lda < k || !conduit_kernel_runs_here(kernel)) return;
    switch (kernel) {
#if defined(__x86_64__)
    case CONDUIT_KERNEL_AVX512: conduit_packed_gemm_avx512(m, n, k, a, lda, packed, first_panel, end_panel, c, ldc); return;
    case CONDUIT_KERNEL_AVX2: conduit_packed_gemm_avx2(m, n, k, a, lda, packed, first_panel, end_panel, c, ldc); return;
#endif
    default: conduit_packed_gemm_generic(m, n, k, a, lda, packed, first_panel, end_panel, c, ldc); return;
    }
}
