// The kernels for x86-64 with AVX-512: thirty-two zmm registers, a panel row in each.

#include "kernels.h"

#if defined(__x86_64__)
#define SUFFIX avx512
#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
// Twelve rows of one-register accumulators: more chains than the FMA units' latency needs, with
// room left for the weight and the broadcasts.
#define ROWS CONDUIT_TILE_ROWS_AVX512
#define MULTIPLY_ADD(x, y, z) __builtin_elementwise_fma(x, y, z)
#include "micro_kernels.h"
#endif
