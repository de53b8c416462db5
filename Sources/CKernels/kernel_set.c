// Which kernels this CPU runs, read from cpuid by the compiler's runtime (which also checks that the
// operating system saves the wider registers).

#include "kernel_set.h"

#include <stdatomic.h>
#include <string.h>

// The features Conduit reports, in the spelling of __builtin_cpu_supports, which takes only literals.
#define CONDUIT_FEATURES(X)                                                                                  \
    X("sse4.2") X("avx") X("avx2") X("fma") X("f16c") X("avx512f") X("avx512bw") X("avx512vl") X("avx512dq") \
    X("avx512cd") X("avx512vnni") X("avx512bf16") X("avx512fp16") X("avxvnni") X("amx-tile")

#define CONDUIT_NAME(name) name,
static const char *const feature_names[] = {CONDUIT_FEATURES(CONDUIT_NAME)};
#undef CONDUIT_NAME

const char *conduit_cpu_feature_name(int index) {
    return index >= 0 && index < (int)(sizeof feature_names / sizeof *feature_names) ? feature_names[index] : NULL;
}

int conduit_cpu_supports(const char *feature) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
#define CONDUIT_CHECK(name) if (strcmp(feature, name) == 0) return __builtin_cpu_supports(name) != 0;
    CONDUIT_FEATURES(CONDUIT_CHECK)
#undef CONDUIT_CHECK
#else
    (void)feature;
#endif
    return 0;
}

static int detect(conduit_kernel kernel) {
    switch (kernel) {
    case CONDUIT_KERNEL_GENERIC: return 1;
    case CONDUIT_KERNEL_AVX2: return conduit_cpu_supports("avx2") && conduit_cpu_supports("fma");
    case CONDUIT_KERNEL_AVX512:
        return detect(CONDUIT_KERNEL_AVX2) && conduit_cpu_supports("avx512f") && conduit_cpu_supports("avx512bw")
            && conduit_cpu_supports("avx512vl");
    }
    return 0;
}

int conduit_kernel_runs_here(conduit_kernel kernel) {
    // Asked before every product: the answer is read from cpuid once and kept, one bit per kernel.
    static _Atomic int known = -1;
    int bits = atomic_load_explicit(&known, memory_order_relaxed);
    if (bits < 0) {
        bits = 0;
        for (int candidate = CONDUIT_KERNEL_GENERIC; candidate <= CONDUIT_KERNEL_AVX512; candidate++) {
            if (detect((conduit_kernel)candidate)) bits |= 1 << candidate;
        }
        atomic_store_explicit(&known, bits, memory_order_relaxed);
    }
    return (unsigned)kernel <= CONDUIT_KERNEL_AVX512 && (bits >> kernel & 1);
}

conduit_kernel conduit_best_kernel(void) {
    if (conduit_kernel_runs_here(CONDUIT_KERNEL_AVX512)) return CONDUIT_KERNEL_AVX512;
    if (conduit_kernel_runs_here(CONDUIT_KERNEL_AVX2)) return CONDUIT_KERNEL_AVX2;
    return CONDUIT_KERNEL_GENERIC;
}
