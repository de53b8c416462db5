import CKernels
import Foundation
import Testing

@testable import ModelRuntime

@Suite("Kernel choice")
struct KernelTests {
    @Test("the best kernel is the widest this CPU runs, and every CPU runs the generic one")
    func best() {
        #expect(Kernel.generic.runsHere)
        #expect(Kernel.best.runsHere)
        #expect(Kernel.allCases.filter(\.runsHere).last == Kernel.best)
        // AVX-512 kernels also use AVX2 instructions: a CPU that runs them runs the AVX2 ones.
        if Kernel.avx512.runsHere { #expect(Kernel.avx2.runsHere) }
    }

    @Test("CONDUIT_KERNEL forces a kernel this CPU runs, in any case; unset or empty means the best")
    func forced() throws {
        #expect(try Kernel.selected(environment: [:]) == .best)
        #expect(try Kernel.selected(environment: ["CONDUIT_KERNEL": ""]) == .best)
        #expect(try Kernel.selected(environment: ["CONDUIT_KERNEL": "generic"]) == .generic)
        for kernel in Kernel.allCases where kernel.runsHere {
            #expect(try Kernel.selected(environment: ["CONDUIT_KERNEL": kernel.rawValue.uppercased()]) == kernel)
        }
    }

    @Test("a kernel that is not one, or that this CPU cannot run, is refused with what it can run")
    func refused() {
        #expect(throws: ModelRuntimeError.self) { try Kernel.selected(environment: ["CONDUIT_KERNEL": "sse9"]) }
        for kernel in Kernel.allCases where !kernel.runsHere {
            #expect {
                try Kernel.selected(environment: ["CONDUIT_KERNEL": kernel.rawValue])
            } throws: { error in
                "\(error)".contains("does not run it") && "\(error)".contains("generic")
            }
        }
    }
}

@Suite("Encoder threads")
struct EncoderThreadsTests {
    @Test("a compute thread runs below the rest of the process, and only that thread", .enabled(if: isLinux))
    func lowerPriority() async throws {
        @Sendable func onNewThread(_ body: @escaping @Sendable () -> (Int32, Int32)) async -> (Int32, Int32) {
            await withCheckedContinuation { continuation in Thread { continuation.resume(returning: body()) }.start() }
        }
        let (before, after) = await onNewThread {
            let before = conduit_thread_nice()
            EncoderThreads.lowerCurrentThreadPriority()
            return (before, conduit_thread_nice())
        }
        #expect(after == min(19, before + EncoderThreads.niceIncrement))
        let (other, _) = await onNewThread { (conduit_thread_nice(), 0) }
        #expect(other == before)
    }
}

#if os(Linux)
    private let isLinux = true
#else
    private let isLinux = false
#endif
