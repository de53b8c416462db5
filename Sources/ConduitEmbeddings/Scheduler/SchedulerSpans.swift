import Tracing

extension EmbeddingScheduler.Embedded {
    /// Records the request's time in the scheduler as two spans under the current one: the wait for
    /// the model, then the forward pass of its batch (shared with the batch's other requests, whose
    /// traces show the same pass). Recorded once the request has its vectors, because the batch runs
    /// on the scheduler's thread, outside every request's task.
    package func recordSpans() {
        let timeline = TracerTimeline()
        let started = completed - inferenceTime
        let wait = startSpan("queue wait", at: timeline.instant(started - queueTime))
        wait.end(at: timeline.instant(started))
        let forward = startSpan("forward", at: timeline.instant(started))
        forward.updateAttributes { attributes in
            attributes["conduit.batch.sequences"] = batchSequences
            attributes["conduit.batch.tokens"] = batchTokens
        }
        forward.end(at: timeline.instant(completed))
    }
}

/// Places instants of the monotonic clock, which the scheduler keeps, on the wall clock spans carry.
package struct TracerTimeline {
    private let wall = DefaultTracerClock.now
    private let monotonic = ContinuousClock.now

    package func instant(_ instant: ContinuousClock.Instant) -> DefaultTracerClock.Instant {
        let before = (monotonic - instant).components
        let nanoseconds = before.seconds * 1_000_000_000 + before.attoseconds / 1_000_000_000
        return .init(nanosecondsSinceEpoch: UInt64(max(0, Int64(wall.nanosecondsSinceEpoch) - nanoseconds)))
    }
}
