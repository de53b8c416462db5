#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Float memory mapped from the kernel rather than taken from malloc, so that the part a large pass
/// touched can be handed back afterwards. Freed to glibc, a block of tens of megabytes stays in the
/// process (its mmap threshold rises to the size of the last large block freed, and blocks under it
/// come from arenas that it trims only from the top).
final class ScratchMemory {
    let pointer: UnsafeMutablePointer<Float>
    let floats: Int
    private let byteCount: Int

    /// Page-aligned (so also cache-line aligned), zero-filled, with no page resident until touched.
    init(floats: Int) {
        self.floats = floats
        byteCount = max(1, floats * MemoryLayout<Float>.stride)
        let mapped = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let mapped, mapped != MAP_FAILED else { fatalError("cannot map \(byteCount) bytes of scratch memory") }
        pointer = mapped.bindMemory(to: Float.self, capacity: floats)
    }

    /// Hands back every page past the first `kept` floats: they read as zeros when next touched.
    func release(keepingFloats kept: Int) {
        let page = Self.pageSize
        let start = (kept * MemoryLayout<Float>.stride + page - 1) / page * page
        guard start < byteCount else { return }
        _ = madvise(UnsafeMutableRawPointer(pointer) + start, byteCount - start, MADV_DONTNEED)
    }

    /// Bytes of this memory now in RAM.
    var residentBytes: Int {
        let page = Self.pageSize
        var pages = [UInt8](repeating: 0, count: (byteCount + page - 1) / page)
        guard mincore(UnsafeMutableRawPointer(pointer), byteCount, &pages) == 0 else { return 0 }
        return pages.reduce(0) { $0 + Int($1 & 1) } * page
    }

    deinit { munmap(UnsafeMutableRawPointer(pointer), byteCount) }

    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
}
