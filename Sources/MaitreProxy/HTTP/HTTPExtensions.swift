import NIOCore
import NIOHTTP1

extension HTTPHeaders {
    /// True when the last transfer coding is `chunked`, as RFC 9112 §6.1 reads it.
    var isChunked: Bool {
        guard let value = self["transfer-encoding"].last else { return false }
        guard let last = value.split(separator: ",").last else { return false }
        return last.trimmingASCIISpaces().lowercased() == "chunked"
    }
}

extension Substring {
    func trimmingASCIISpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}

extension ByteBufferAllocator {
    var crlf: ByteBuffer {
        var b = buffer(capacity: 2)
        b.writeStaticString("\r\n")
        return b
    }
}
