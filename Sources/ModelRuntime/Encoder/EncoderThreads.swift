import CKernels

/// The scheduling priority of the threads that run forward passes.
///
/// A server computes on as many threads as it has cores, beside the event loops that read requests,
/// refuse the ones it cannot take and answer health checks. At the same priority the operating system
/// shares the cores out evenly, and a refusal waits for its turn behind a forward pass: under
/// overload on two cores, refusals took about a second. A little lower, the compute threads still get
/// every cycle the event loops leave, and an event loop that wakes runs at once.
public enum EncoderThreads {
    /// How much nicer than the rest of the process the compute threads are (Linux's nice scale, where
    /// each step is about 25 % less CPU time when threads contend).
    public static let niceIncrement: Int32 = 5

    /// Lowers the calling thread's priority by `niceIncrement`, on Linux (where a nice value is per
    /// thread); elsewhere nothing. Call it once, from the thread, when it starts.
    public static func lowerCurrentThreadPriority() { _ = conduit_thread_renice(niceIncrement) }
}
