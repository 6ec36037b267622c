#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// Appends many short byte runs (header names, ": ", values, CRLF) into memory reserved once. ByteBuffer's own
/// write methods check capacity and uniqueness on every call, which showed as ~250 instructions per header
/// piece in the request profile; this does one check per head.
///
/// The reservation is an estimate made from bytes a peer sent, so running past it must never trap: a run that
/// does not fit is dropped and `overflowed` is set, and the caller treats the whole head as unusable.
struct ByteRunWriter {
    private let base: UnsafeMutableRawPointer?
    private let capacity: Int
    private(set) var count = 0
    /// A run did not fit: what was written is incomplete and must not be sent.
    private(set) var overflowed = false

    init(_ memory: UnsafeMutableRawBufferPointer) {
        base = memory.baseAddress
        capacity = memory.count
    }

    @inline(__always)
    private mutating func reserve(_ n: Int) -> UnsafeMutableRawPointer? {
        guard !overflowed, let base, n <= capacity - count else {
            overflowed = true
            return nil
        }
        defer { count += n }
        return base + count
    }

    @inline(__always)
    mutating func add(_ text: StaticString) {
        let n = text.utf8CodeUnitCount
        guard let target = reserve(n) else { return }
        memcpy(target, text.utf8Start, n)
    }

    @inline(__always)
    mutating func add(_ text: String) {
        var text = text
        text.withUTF8 { add(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n > 0, let source = bytes.baseAddress else { return }
        guard let target = reserve(n) else { return }
        memcpy(target, source, n)
    }

    @inline(__always)
    mutating func add(byte: UInt8) {
        guard let target = reserve(1) else { return }
        target.storeBytes(of: byte, as: UInt8.self)
    }
}

extension ByteBuffer {
    /// Writes at most `maximum` bytes through a ByteRunWriter with a single capacity reservation. Returns false,
    /// and leaves the buffer as it was, when the runs did not fit in `maximum`.
    @discardableResult
    mutating func writeRuns(maximum: Int, _ body: (inout ByteRunWriter) -> Void) -> Bool {
        var fitted = true
        writeWithUnsafeMutableBytes(minimumWritableBytes: max(maximum, 0)) { memory in
            var writer = ByteRunWriter(UnsafeMutableRawBufferPointer(rebasing: memory.prefix(max(maximum, 0))))
            body(&writer)
            fitted = !writer.overflowed
            return fitted ? writer.count : 0
        }
        return fitted
    }
}
