#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// Appends many short byte runs (header names, ": ", values, CRLF) into memory reserved once. ByteBuffer's own
/// write methods check capacity and uniqueness on every call, which showed as ~250 instructions per header
/// piece in the request profile; this does one check per head.
struct ByteRunWriter {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private(set) var count = 0

    init(_ memory: UnsafeMutableRawBufferPointer) {
        base = memory.baseAddress!
        capacity = memory.count
    }

    @inline(__always)
    mutating func add(_ text: StaticString) {
        let n = text.utf8CodeUnitCount
        precondition(count + n <= capacity, "head size under-estimated")
        memcpy(base + count, text.utf8Start, n)
        count += n
    }

    @inline(__always)
    mutating func add(_ text: String) {
        var text = text
        text.withUTF8 { add(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        precondition(count + n <= capacity, "head size under-estimated")
        if n > 0 { memcpy(base + count, bytes.baseAddress!, n) }
        count += n
    }

    @inline(__always)
    mutating func add(byte: UInt8) {
        precondition(count < capacity, "head size under-estimated")
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }
}

extension ByteBuffer {
    /// Writes at most `maximum` bytes through a ByteRunWriter with a single capacity reservation.
    mutating func writeRuns(maximum: Int, _ body: (inout ByteRunWriter) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: maximum) { memory in
            var writer = ByteRunWriter(memory)
            body(&writer)
            return writer.count
        }
    }
}
