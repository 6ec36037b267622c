import MaitreWire
import NIOCore
import NIOHTTP1

/// A client request head as it arrived: a copy of its bytes, kept for the request's life (the upstream head,
/// variables and log lines read from it), and the parser's offsets into them. Strings are made only when asked.
struct ClientRequest {
    /// The head's bytes; `head`'s offsets index its readable bytes.
    let bytes: ByteBuffer
    let head: RequestHead
    let method: Method

    /// The methods the proxy treats specially; the name itself is always read from the bytes.
    enum Method {
        case get, head, post, lock, patch, other
    }

    init(bytes: ByteBuffer, head: RequestHead) {
        self.bytes = bytes
        self.head = head
        // The parser took only uppercase method names, so a case-folding comparison is an exact one here.
        self.method = bytes.withUnsafeReadableBytes { raw in
            let s = head.methodStart
            let e = head.methodEnd
            switch e - s {
            case 3 where raw.equalsLowercased(s, e, "get"): return .get
            case 4 where raw.equalsLowercased(s, e, "head"): return .head
            case 4 where raw.equalsLowercased(s, e, "post"): return .post
            case 4 where raw.equalsLowercased(s, e, "lock"): return .lock
            case 5 where raw.equalsLowercased(s, e, "patch"): return .patch
            default: return .other
            }
        }
    }

    var version: HTTPVersion { head.versionMinor == 0 ? .http1_0 : .http1_1 }
    var isHead: Bool { method == .head }
    /// nginx does not repeat a sent POST, LOCK or PATCH on the next upstream unless told to.
    var isIdempotent: Bool {
        switch method {
        case .post, .lock, .patch: return false
        case .get, .head, .other: return true
        }
    }

    var methodName: String { string(head.methodStart, head.methodEnd) }
    /// The request-target exactly as sent.
    var target: String { string(head.targetStart, head.targetEnd) }

    /// `$request_uri`: the target in origin form (an absolute-form `http://host/p?q` gives `/p?q`, as in nginx).
    var uri: String {
        let target = self.target
        guard target.utf8.first != UInt8(ascii: "/"), let scheme = target.firstRange(of: "://") else { return target }
        let rest = target[scheme.upperBound...]
        guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return "/" }
        return rest[slash] == "?" ? "/" + rest[slash...] : String(rest[slash...])
    }

    /// `METHOD TARGET HTTP/1.x` (`$request`), for log lines.
    var requestLine: String { "\(methodName) \(target) HTTP/1.\(head.versionMinor)" }

    var host: String? { head.hostField.map { value(of: head.fields[$0]) } }

    func value(of field: HeaderField) -> String { string(field.valueStart, field.valueEnd) }

    /// Values of the fields named `name` (any case), in order.
    func values(named name: String) -> [String] {
        var found: [String] = []
        withRaw { raw in
            for field in head.fields where raw.equalsIgnoringCase(field.nameStart, field.nameEnd, name) {
                found.append(String(decoding: UnsafeRawBufferPointer(rebasing: raw[field.valueStart..<field.valueEnd]),
                                    as: UTF8.self))
            }
        }
        return found
    }

    func withRaw<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        bytes.withUnsafeReadableBytes(body)
    }

    private func string(_ start: Int, _ end: Int) -> String {
        bytes.getString(at: bytes.readerIndex + start, length: end - start) ?? ""
    }
}

extension UnsafeRawBufferPointer {
    /// Case-insensitive comparison of `start..<end` with an ASCII string.
    func equalsIgnoringCase(_ start: Int, _ end: Int, _ text: String) -> Bool {
        let utf8 = text.utf8
        guard utf8.count == end - start else { return false }
        var i = start
        for byte in utf8 {
            if FieldSyntax.lowercased(self[i]) != FieldSyntax.lowercased(byte) { return false }
            i += 1
        }
        return true
    }
}
