// The kernels in plain vector code, for any CPU: what runs where neither AVX2 nor AVX-512 does.

#include "kernels.h"

#define SUFFIX generic
#define TARGET
// Four rows of four-register accumulators fit x86-64's sixteen xmm registers with little spilling.
#define ROWS CONDUIT_TILE_ROWS_GENERIC
// Not fused: without FMA hardware the compiler would call fmaf for every lane.
#define MULTIPLY_ADD(x, y, z) ((x) * (y) + (z))
#include "micro_kernels.h"
