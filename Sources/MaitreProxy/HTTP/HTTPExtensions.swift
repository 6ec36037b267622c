import NIOCore

extension ByteBufferAllocator {
    var crlf: ByteBuffer {
        var b = buffer(capacity: 2)
        b.writeStaticString("\r\n")
        return b
    }
}
