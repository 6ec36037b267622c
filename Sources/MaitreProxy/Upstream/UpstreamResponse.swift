import MaitreWire
import NIOCore

/// An upstream response head as received: the parsed facts plus the bytes they point into, so the client's
/// head can copy header lines without making strings of them.
struct UpstreamResponseHead {
    var parsed: ResponseHead
    /// The head's bytes, offsets in `parsed` count from this buffer's reader index.
    var bytes: ByteBuffer
    /// How the body will be delivered to the exchange.
    var bodyDelivery: UpstreamBodyDelivery

    var status: Int { parsed.status }
}

/// What the body events of one response carry.
enum UpstreamBodyDelivery: Equatable {
    /// No body follows (HEAD, 204, 304).
    case none
    /// Content-Length framed: the payload bytes.
    case length(Int64)
    /// The upstream's chunked framing, bytes unchanged (for clients that take chunked).
    case chunkedPassthrough
    /// Only the payload of a chunked body (for HTTP/1.0 clients).
    case chunkedDecoded
    /// Read until the upstream closes: the payload bytes.
    case untilClose
}
