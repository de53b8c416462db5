// Per-thread nice values: Linux applies setpriority(PRIO_PROCESS, tid) to the one thread, which
// Swift cannot name (gettid is not exported to it).

#define _GNU_SOURCE
#include "thread_priority.h"

#if defined(__linux__)
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static id_t current_thread(void) { return (id_t)syscall(SYS_gettid); }

int conduit_thread_nice(void) {
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, current_thread());
    return errno == 0 ? nice : 0;
}

int conduit_thread_renice(int increment) {
    int nice = conduit_thread_nice();
    int wanted = nice + increment > 19 ? 19 : nice + increment;
    return setpriority(PRIO_PROCESS, current_thread(), wanted) == 0 ? wanted : nice;
}
#else
int conduit_thread_nice(void) { return 0; }
int conduit_thread_renice(int increment) { (void)increment; return 0; }
#endif
