// The kernels for x86-64 with AVX2 and FMA: sixteen ymm registers.

#include "kernels.h"

#if defined(__x86_64__)
#define SUFFIX avx2
#define TARGET __attribute__((target("avx2,fma")))
// Six rows of two-register accumulators, two weight registers and a broadcast: 15 of the 16.
#define ROWS CONDUIT_TILE_ROWS_AVX2
#define MULTIPLY_ADD(x, y, z) __builtin_elementwise_fma(x, y, z)
#include "micro_kernels.h"
#endif
