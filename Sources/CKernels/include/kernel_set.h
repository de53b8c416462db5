#ifndef CONDUIT_KERNEL_SET_H
#define CONDUIT_KERNEL_SET_H

/// The instruction sets the encoder's kernels are built for, best last.
typedef enum {
    /// Plain vector code the compiler lowers for any CPU (SSE2 on x86-64, NEON on ARM).
    CONDUIT_KERNEL_GENERIC = 0,
    /// x86-64 with AVX2 and FMA.
    CONDUIT_KERNEL_AVX2 = 1,
    /// x86-64 with AVX-512 F, BW and VL (and the operating system saving the zmm registers).
    CONDUIT_KERNEL_AVX512 = 2,
} conduit_kernel;

/// Whether this CPU runs `kernel`.
int conduit_kernel_runs_here(conduit_kernel kernel);

/// The fastest kernel this CPU runs.
conduit_kernel conduit_best_kernel(void);

/// The `index`th CPU feature Conduit reports (from 0), in the spelling of the compiler's
/// `__builtin_cpu_supports` ("avx2", "avx512f", "avx512vnni", ...); NULL past the last.
const char *conduit_cpu_feature_name(int index);

/// Whether this CPU has the named feature (one of `conduit_cpu_feature_name`'s); 0 for any other
/// name, and off x86-64.
int conduit_cpu_supports(const char *feature);

#endif
