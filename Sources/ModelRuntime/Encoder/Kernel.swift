import CKernels
import Foundation

/// The instruction set the encoder's kernels run with: chosen once, at start, from the CPU's
/// features, or forced with `CONDUIT_KERNEL` to compare kernels or to test one.
public enum Kernel: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Plain vector code for any CPU.
    case generic
    /// x86-64 with AVX2 and FMA.
    case avx2
    /// x86-64 with AVX-512 F, BW and VL.
    case avx512

    /// The environment variable that forces a kernel.
    public static let environmentVariable = "CONDUIT_KERNEL"

    /// Whether this CPU runs the kernel.
    public var runsHere: Bool { conduit_kernel_runs_here(cValue) != 0 }

    /// The fastest kernel this CPU runs.
    public static var best: Kernel {
        switch conduit_best_kernel() {
        case CONDUIT_KERNEL_AVX512: .avx512
        case CONDUIT_KERNEL_AVX2: .avx2
        default: .generic
        }
    }

    /// The kernel `CONDUIT_KERNEL` names, or the best one when it is unset or empty; a name this CPU
    /// cannot run, or one that is not a kernel, is refused rather than silently replaced.
    public static func selected(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Kernel {
        guard let name = environment[environmentVariable], !name.isEmpty else { return best }
        guard let kernel = Kernel(rawValue: name.lowercased()) else {
            throw ModelRuntimeError.unsupported(
                "\(environmentVariable)=\(name): the kernels are \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard kernel.runsHere else {
            throw ModelRuntimeError.unsupported(
                "\(environmentVariable)=\(name): this CPU does not run it (it runs \(allCases.filter(\.runsHere).map(\.rawValue).joined(separator: ", ")))"
            )
        }
        return kernel
    }

    public var description: String { rawValue }

    var cValue: conduit_kernel {
        switch self {
        case .generic: CONDUIT_KERNEL_GENERIC
        case .avx2: CONDUIT_KERNEL_AVX2
        case .avx512: CONDUIT_KERNEL_AVX512
        }
    }
}
