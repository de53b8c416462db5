#ifndef CONDUIT_THREAD_PRIORITY_H
#define CONDUIT_THREAD_PRIORITY_H

/// The calling thread's nice value (Linux keeps one per thread); 0 elsewhere.
int conduit_thread_nice(void);

/// Raises the calling thread's nice value by `increment` (at most to 19), on Linux; returns the new
/// value, or the old one where it could not be changed.
int conduit_thread_renice(int increment);

#endif
