import CKernels
import Foundation

/// What the encoder computes on, so that a figure is never read as if it came from another machine:
/// the CPU, the features its kernels care about, the kernel chosen and the threads of a pass.
public struct ComputeEnvironment: Codable, Sendable, Equatable {
    /// The CPU's name, family and model as the operating system gives them ("AMD EPYC, family 25 model 1").
    public var cpu: String
    /// The vector features this CPU has, of those that decide a kernel ("avx2", "avx512f", "avx512vnni"…).
    public var cpuFeatures: [String]
    public var kernel: String
    /// How the dense layers compute: fp32 or int8.
    public var precision: String
    public var threads: Int
    /// The BLAS library the products go through: none, since every product runs on Conduit's kernels.
    public var blas: String

    public init(kernel: Kernel, precision: Precision, threads: Int) {
        cpu = Self.cpuName()
        cpuFeatures = Self.features()
        self.kernel = kernel.rawValue
        self.precision = precision.rawValue
        self.threads = threads
        blas = "none"
    }

    /// One line for logs and reports.
    public var summary: String {
        "\(cpu); \(cpuFeatures.joined(separator: " ")); kernel \(kernel), \(precision), \(threads) threads, BLAS \(blas)"
    }

    private static func features() -> [String] {
        var names: [String] = []
        var index: Int32 = 0
        while let name = conduit_cpu_feature_name(index) {
            if conduit_cpu_supports(name) != 0 { names.append(String(cString: name)) }
            index += 1
        }
        return names
    }

    /// From /proc/cpuinfo on Linux ("model name", "cpu family", "model"); the architecture elsewhere.
    private static func cpuName() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else {
            #if arch(x86_64)
                return "x86-64"
            #else
                return "arm64"
            #endif
        }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            if line.isEmpty, !fields.isEmpty { break }  // the first processor is enough
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            if fields[key] == nil { fields[key] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        let name = fields["model name"] ?? fields["Model"] ?? "unknown CPU"
        guard let family = fields["cpu family"], let model = fields["model"] else { return name }
        return "\(name), family \(family) model \(model)"
    }
}
