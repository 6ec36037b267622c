import MaitreWire
import NIOCore
import NIOHTTP1

/// What the proxy keeps of a request head once it is routed: a copy of the head's bytes and where the request
/// line and the Host value are in them. No field arrays: those live in the loop's shared parse target and are
/// only read while the head is being handled (ClientRequest). Strings are made only when asked.
struct RequestRecord {
    /// The head's bytes, exactly as received.
    private(set) var bytes: ByteBuffer
    let method: Method
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 (and later 1.x).
    let versionMinor: Int
    /// Offsets of the method and of the request-target in `bytes` (the log writes `$request` from them).
    let methodEnd: Int
    let methodStart: Int
    let targetStart: Int
    let targetEnd: Int
    /// End of the request line as sent (`$request` is `methodStart..<requestLineEnd`).
    let requestLineEnd: Int
    private let hostValue: Range<Int>?
    /// The parser dropped fields whose names hold `_` (nginx's `underscores_in_headers off` with
    /// `ignore_invalid_headers on`): lookups in the raw bytes skip them too, so `$http_x_y` never shows a field
    /// the request did not have for nginx.
    let dropsUnderscoreNames: Bool
    /// A refused head's record (its log line): what nginx counts in `$request_length` (-1: not refused; not an
    /// optional, which would add 8 bytes to a record copied several times a request).
    private var refusedLength = -1

    /// The methods the proxy treats specially; the name itself is always read from the bytes.
    enum Method {
        case get, head, post, lock, patch, connect, trace, other
    }

    init(bytes: ByteBuffer, head: RequestHead, dropsUnderscoreNames: Bool) {
        self.bytes = bytes
        self.dropsUnderscoreNames = dropsUnderscoreNames
        self.versionMinor = head.versionMinor
        self.methodStart = head.methodStart
        self.methodEnd = head.methodEnd
        self.targetStart = head.targetStart
        self.targetEnd = head.targetEnd
        self.requestLineEnd = head.requestLineEnd
        self.hostValue = head.hostField.map { head.fields[$0].valueStart..<head.fields[$0].valueEnd }
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
            case 5 where raw.equalsLowercased(s, e, "trace"): return .trace
            case 7 where raw.equalsLowercased(s, e, "connect"): return .connect
            default: return .other
            }
        }
    }

    /// The record of a head the parser refused, for its log line, made from the received `bytes` (not consumed).
    /// With the request line parsed: the request line and the header lines nginx had taken. Without: the first
    /// line as received, up to CR, LF or `lineLimit` bytes, as nginx's `$request` falls back to it.
    static func refused(_ bytes: ByteBuffer, head: RequestHead, lineLimit: Int, dropsUnderscoreNames: Bool,
                        pool: HeadBufferPool) -> RequestRecord {
        if head.acceptedLength > 0 {
            let kept = min(head.acceptedLength, bytes.readableBytes)
            var copy = pool.take(minimumCapacity: kept)
            copy.writeImmutableBuffer(bytes.getSlice(at: bytes.readerIndex, length: kept) ?? ByteBuffer())
            var record = RequestRecord(bytes: copy, head: head, dropsUnderscoreNames: dropsUnderscoreNames)
            record.refusedLength = head.length
            return record
        }
        let line = bytes.withUnsafeReadableBytes { raw -> Range<Int> in
            var start = 0
            while start < raw.count, raw[start] == UInt8(ascii: "\r") || raw[start] == UInt8(ascii: "\n") { start += 1 }
            var end = start
            let limit = min(raw.count, start + max(0, lineLimit))
            while end < limit, raw[end] != UInt8(ascii: "\r"), raw[end] != UInt8(ascii: "\n") { end += 1 }
            return start..<end
        }
        var copy = pool.take(minimumCapacity: line.count)
        copy.writeImmutableBuffer(bytes.getSlice(at: bytes.readerIndex + line.lowerBound, length: line.count) ?? ByteBuffer())
        var lineOnly = RequestHead()
        lineOnly.requestLineEnd = line.count  // `$request` is the whole copy; method and target are empty
        var record = RequestRecord(bytes: copy, head: lineOnly, dropsUnderscoreNames: dropsUnderscoreNames)
        record.refusedLength = 0
        return record
    }

    /// False for a refused first line kept as received: no method, target or version to read.
    var hasRequestLine: Bool { methodEnd > methodStart }
    var version: HTTPVersion { versionMinor == 0 ? .http1_0 : .http1_1 }
    /// Bytes of the head as received (for a refused head, what nginx had counted of it).
    var headLength: Int { refusedLength >= 0 ? refusedLength : bytes.readableBytes }
    var isHead: Bool { method == .head }
    /// nginx does not repeat a sent POST, LOCK or PATCH on the next upstream unless told to.
    var isIdempotent: Bool {
        switch method {
        case .post, .lock, .patch: return false
        case .get, .head, .connect, .trace, .other: return true
        }
    }

    var methodName: String { string(methodStart, methodEnd) }
    /// The request-target exactly as sent.
    var target: String { string(targetStart, targetEnd) }

    /// `$request_uri`: the target in origin form (an absolute-form `http://host/p?q` gives `/p?q`, as in nginx).
    var uri: String {
        let target = self.target
        guard target.utf8.first != UInt8(ascii: "/"), let scheme = target.firstRange(of: "://") else { return target }
        let rest = target[scheme.upperBound...]
        guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return "/" }
        return rest[slash] == "?" ? "/" + rest[slash...] : String(rest[slash...])
    }

    /// The request line as sent (`$request`, and the error log's `request: "…"`), or a refused first line as
    /// received.
    var requestLine: String { string(methodStart, requestLineEnd) }

    var host: String? { hostValue.map { string($0.lowerBound, $0.upperBound) } }

    enum HostCheck: Equatable {
        case absent
        case invalid
        /// `$host`: the name part, lowercased.
        case name(String)

        var name: String? {
            if case .name(let name) = self { return name }
            return nil
        }
    }

    /// The Host header checked as nginx checks it, and its name as `$host` reads it.
    func checkHost() -> HostCheck {
        guard let value = hostValue else { return .absent }
        return bytes.withUnsafeReadableBytes { Self.checkHost($0, value.lowerBound, value.upperBound) }
    }

    /// A host value at `start..<end` as nginx checks it: its name part, lowercased, or invalid.
    private static func checkHost(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> HostCheck {
        guard let name = HostName.validate(raw, start, end) else { return .invalid }
        let source = UnsafeRawBufferPointer(rebasing: raw[name])
        return .name(String(unsafeUninitializedCapacity: name.count) { out in
            for i in 0..<name.count { out[i] = FieldSyntax.lowercased(source[i]) }
            return name.count
        })
    }

    /// The host of an absolute-form target (`GET http://other.test/p`), which nginx takes over the Host header
    /// for `$host` and server selection (RFC 9112 §3.2.2), checked as a Host value is; nil for any other form.
    func checkTargetHost() -> HostCheck? {
        // The usual origin form costs one byte read.
        guard bytes.getInteger(at: bytes.readerIndex + targetStart, as: UInt8.self) != UInt8(ascii: "/") else { return nil }
        return bytes.withUnsafeReadableBytes { raw -> HostCheck? in
            guard targetStart < targetEnd, targetEnd <= raw.count else { return nil }
            var colon = targetStart
            while colon < targetEnd, raw[colon] != UInt8(ascii: ":") { colon += 1 }
            guard colon + 2 < targetEnd, raw[colon + 1] == UInt8(ascii: "/"), raw[colon + 2] == UInt8(ascii: "/")
            else { return nil }
            let start = colon + 3
            var end = start
            while end < targetEnd, raw[end] != UInt8(ascii: "/"), raw[end] != UInt8(ascii: "?") { end += 1 }
            return Self.checkHost(raw, start, end)
        }
    }

    /// Hands the bytes over (to be recycled); the record reads as empty afterwards.
    mutating func takeBytes() -> ByteBuffer {
        let taken = bytes
        bytes = ByteBuffer()
        return taken
    }

    private func string(_ start: Int, _ end: Int) -> String {
        guard 0 <= start, start <= end, end <= bytes.readableBytes else { return "" }
        return bytes.getString(at: bytes.readerIndex + start, length: end - start) ?? ""
    }
}

/// A request head while it is being handled: its record plus the parser's field offsets (valid until the next
/// head is parsed on this loop).
struct ClientRequest {
    let record: RequestRecord
    let head: RequestHead

    var bytes: ByteBuffer { record.bytes }
    var version: HTTPVersion { record.version }
    var isHead: Bool { record.isHead }
    var uri: String { record.uri }
    var methodName: String { record.methodName }
    var requestLine: String { record.requestLine }

    /// Values of the fields named `name` (any case), in order. With `dashAsUnderscore`, `name` is a `$http_NAME`
    /// variable's name and a `-` in a field name reads as `_`, as nginx's unknown-header variables compare them.
    func values(named name: String, dashAsUnderscore: Bool = false) -> [String] {
        var found: [String] = []
        withRaw { raw in
            for field in head.fields where Self.nameMatches(raw, field, name, dashAsUnderscore: dashAsUnderscore) {
                found.append(String(decoding: UnsafeRawBufferPointer(rebasing: raw[field.valueStart..<field.valueEnd]),
                                    as: UTF8.self))
            }
        }
        return found
    }

    private static func nameMatches(
        _ raw: UnsafeRawBufferPointer, _ field: HeaderField, _ name: String, dashAsUnderscore: Bool
    ) -> Bool {
        let utf8 = name.utf8
        guard utf8.count == field.nameEnd - field.nameStart else { return false }
        var i = field.nameStart
        for wanted in utf8 {
            var b = FieldSyntax.lowercased(raw[i])
            if dashAsUnderscore && b == UInt8(ascii: "-") { b = UInt8(ascii: "_") }
            if b != FieldSyntax.lowercased(wanted) { return false }
            i += 1
        }
        return true
    }

    func withRaw<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        record.bytes.withUnsafeReadableBytes(body)
    }
}
