import NIOCore
import NIOHTTP1

/// HTTP/1.x serialisation for maitred's own response heads and for chunk framing in both directions.
enum HTTPWire {
    static func writeResponseHead(_ head: HTTPResponseHead, into buffer: inout ByteBuffer) {
        writeVersion(head.version, into: &buffer)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(String(head.status.code))
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(ErrorPages.reasonPhrase(head.status))  // nginx's phrases (NIO keeps its own for known codes)
        buffer.writeStaticString("\r\n")
        writeHeaders(head.headers, into: &buffer)
    }

    static func writeVersion(_ version: HTTPVersion, into buffer: inout ByteBuffer) {
        switch (version.major, version.minor) {
        case (1, 1): buffer.writeStaticString("HTTP/1.1")
        case (1, 0): buffer.writeStaticString("HTTP/1.0")
        default: buffer.writeString("HTTP/\(version.major).\(version.minor)")
        }
    }

    static func writeHeaders(_ headers: HTTPHeaders, into buffer: inout ByteBuffer) {
        for (name, value) in headers {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    static func writeChunkPrefix(length: Int, into buffer: inout ByteBuffer) {
        buffer.writeString(String(length, radix: 16))
        buffer.writeStaticString("\r\n")
    }

    /// The last chunk with no trailers (maitred forwards none).
    static func writeLastChunk(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("0\r\n\r\n")
    }
}
