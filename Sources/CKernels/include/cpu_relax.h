#ifndef CONDUIT_CPU_RELAX_H
#define CONDUIT_CPU_RELAX_H

/// Tells the CPU that the calling thread is spinning on a shared variable: the core slows the loop
/// and lets its other hardware thread run, and does not mispredict when the variable changes.
static inline void conduit_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
