// A matrix product specialised for what an encoder does at small batch sizes: few rows (tokens)
// against a weight that never changes. General BLAS packs the weight into its kernel's layout on
// every call, which costs as much as the arithmetic when there are only a few dozen rows; here the
// weight is packed once, at load, and the kernel streams it as it lies.

#include "packed_gemm.h"

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

// The same product in plain C, for CPUs without AVX2 and FMA (where callers normally use BLAS
// instead: this keeps the function correct on every CPU all the same).
static void packed_gemm_portable(
    size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed,
    size_t first_panel, size_t end_panel, float *c, size_t ldc) {
    for (size_t p = first_panel; p < end_panel; p++) {
        const float *panel = packed + p * CONDUIT_PANEL_WIDTH * k;
        size_t column = p * CONDUIT_PANEL_WIDTH;
        size_t width = n - column < CONDUIT_PANEL_WIDTH ? n - column : CONDUIT_PANEL_WIDTH;
        float *out = c + (column - first_panel * CONDUIT_PANEL_WIDTH);
        for (size_t row = 0; row < m; row++) {
            for (size_t lane = 0; lane < width; lane++) {
                float sum = 0;
                for (size_t i = 0; i < k; i++) sum += a[row * lda + i] * panel[i * CONDUIT_PANEL_WIDTH + lane];
                out[row * ldc + lane] = sum;
            }
        }
    }
}


#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include "avx2_tile.h"

// Rows of `a` per block: a block (at most about 192 KiB) stays in L2 while every panel passes over
// it, so a large batch does not stream all of `a` from memory once per panel.
static size_t rows_per_block(size_t k) {
    size_t rows = (48 * 1024 / (k ? k : 1)) / ROWS * ROWS;
    return rows < ROWS ? ROWS : rows;
}

ENTRY void packed_gemm_avx2(
    size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed,
    size_t first_panel, size_t end_panel, float *c, size_t ldc) {
    size_t block = rows_per_block(k);
    size_t panels = (n + CONDUIT_PANEL_WIDTH - 1) / CONDUIT_PANEL_WIDTH;
    for (size_t blockStart = 0; blockStart < m; blockStart += block) {
        size_t blockEnd = blockStart + block < m ? blockStart + block : m;
        for (size_t p = first_panel; p < end_panel; p++) {
            const float *panel = packed + p * CONDUIT_PANEL_WIDTH * k;
            size_t column = p * CONDUIT_PANEL_WIDTH;
            int width = n - column < CONDUIT_PANEL_WIDTH ? (int)(n - column) : CONDUIT_PANEL_WIDTH;
            float *out = c + (column - first_panel * CONDUIT_PANEL_WIDTH);
            // The first tile over a panel fetches the next one, even past `end_panel`: the thread
            // that works on the following columns then finds its first panel in cache.
            const float *next = p + 1 < panels ? panel + CONDUIT_PANEL_WIDTH * k : NULL;
            size_t row = blockStart;
            for (; row + ROWS <= blockEnd; row += ROWS) {
                tile(ROWS, k, a + row * lda, lda, panel, next, NULL, out + row * ldc, ldc, width);
                next = NULL;
            }
            tile_rest(blockEnd - row, k, a + row * lda, lda, panel, next, NULL, out + row * ldc, ldc, width);
        }
    }
}

int conduit_packed_gemm_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#else

int conduit_packed_gemm_supported(void) { return 0; }

#endif

void conduit_packed_gemm(
    size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed,
    size_t first_panel, size_t end_panel, float *c, size_t ldc) {
    size_t panels = (n + CONDUIT_PANEL_WIDTH - 1) / CONDUIT_PANEL_WIDTH;
    if (end_panel > panels) end_panel = panels;  // never past the packed weight or the output row
    if (first_panel >= end_panel || lda < k) return;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (conduit_packed_gemm_supported()) {
        packed_gemm_avx2(m, n, k, a, lda, packed, first_panel, end_panel, c, ldc);
        return;
    }
#endif
    packed_gemm_portable(m, n, k, a, lda, packed, first_panel, end_panel, c, ldc);
}
