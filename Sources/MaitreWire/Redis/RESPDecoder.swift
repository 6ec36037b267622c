/// Why a Redis peer's bytes were refused: the connection is closed and opened again.
public struct RESPError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// An incremental RESP2 decoder: bytes go in as they arrive, whole values come out. Each byte is looked at once
/// (no re-parse when a reply comes in pieces), and everything is bounded: line length, bulk length, array
/// length, nesting, and the bytes one value may hold, so a hostile or broken server costs at most `limits`.
public struct RESPDecoder: Sendable {
    public struct Limits: Sendable {
        public var maxLine = 1024
        public var maxBulk = 512 * 1024
        public var maxArray = 100_000
        public var maxDepth = 8
        /// Bytes (payload and per-element overhead) one top-level value may hold.
        public var maxValueBytes = 8 * 1024 * 1024
        public init() {}
    }

    private enum Phase: Sendable {
        /// Waiting for a type byte.
        case type
        /// Reading the rest of a line after the type byte; `sawCR` once `\r` came.
        case line(type: UInt8, sawCR: Bool)
        /// Reading a bulk string's payload, then its `\r\n` (`trailer` bytes of it seen).
        case bulk(remaining: Int, trailer: Int)
    }

    private struct Frame: Sendable {
        var remaining: Int
        var items: [RESPValue]
    }

    public let limits: Limits
    private var phase = Phase.type
    private var line: [UInt8] = []
    private var bulk: [UInt8] = []
    private var stack: [Frame] = []
    private var valueBytes = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Decodes what `bytes` completes; values come out in order. A refused byte throws, and the decoder must
    /// not be fed again.
    public mutating func feed<Bytes: Collection>(_ bytes: Bytes) throws(RESPError) -> [RESPValue]
    where Bytes.Element == UInt8 {
        var out: [RESPValue] = []
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            switch phase {
            case .type:
                switch byte {
                case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "$"), UInt8(ascii: "*"): break
                default: throw RESPError("unexpected byte 0x\(String(byte, radix: 16)) where a RESP type was expected")
                }
                line.removeAll(keepingCapacity: true)
                phase = .line(type: byte, sawCR: false)
                index = bytes.index(after: index)
            case .line(let type, let sawCR):
                index = bytes.index(after: index)
                if sawCR {
                    guard byte == 0x0A else { throw RESPError("a line did not end with CRLF") }
                    phase = .type
                    if let value = try lineEnded(type: type) { try complete(value, into: &out) }
                } else if byte == 0x0D {
                    phase = .line(type: type, sawCR: true)
                } else {
                    guard line.count < limits.maxLine else { throw RESPError("a line longer than \(limits.maxLine) bytes") }
                    line.append(byte)
                }
            case .bulk(let remaining, let trailer):
                if remaining > 0 {
                    let available = bytes.distance(from: index, to: bytes.endIndex)
                    let take = min(remaining, available)
                    let end = bytes.index(index, offsetBy: take)
                    bulk.append(contentsOf: bytes[index..<end])
                    index = end
                    phase = .bulk(remaining: remaining - take, trailer: 0)
                } else {
                    guard byte == (trailer == 0 ? 0x0D : 0x0A) else {
                        throw RESPError("a bulk string did not end with CRLF")
                    }
                    index = bytes.index(after: index)
                    if trailer == 0 {
                        phase = .bulk(remaining: 0, trailer: 1)
                    } else {
                        phase = .type
                        let value = RESPValue.bulk(bulk)
                        bulk = []
                        try complete(value, into: &out)
                    }
                }
            }
        }
        return out
    }

    /// A line ended: a whole value, or nil when a bulk string or an array starts.
    private mutating func lineEnded(type: UInt8) throws(RESPError) -> RESPValue? {
        try account(line.count + 3)
        switch type {
        case UInt8(ascii: "+"): return .simpleString(line)
        case UInt8(ascii: "-"): return .error(line)
        case UInt8(ascii: ":"):
            guard let number = Self.integer(line) else { throw RESPError("an invalid integer") }
            return .integer(number)
        case UInt8(ascii: "$"):
            guard let length = Self.integer(line), length >= -1 else { throw RESPError("an invalid bulk length") }
            if length == -1 { return .bulk(nil) }
            guard length <= Int64(limits.maxBulk) else { throw RESPError("a bulk string longer than \(limits.maxBulk) bytes") }
            try account(Int(length))
            bulk = []
            bulk.reserveCapacity(Int(length))
            phase = .bulk(remaining: Int(length), trailer: 0)
            return nil
        default:
            guard let count = Self.integer(line), count >= -1 else { throw RESPError("an invalid array length") }
            if count == -1 { return .array(nil) }
            if count == 0 { return .array([]) }
            guard count <= Int64(limits.maxArray) else { throw RESPError("an array longer than \(limits.maxArray)") }
            guard stack.count < limits.maxDepth else { throw RESPError("arrays nested deeper than \(limits.maxDepth)") }
            // Each element costs at least its header: counted now, so a huge count cannot reserve memory for free.
            try account(Int(count) * 4)
            stack.append(Frame(remaining: Int(count), items: []))
            return nil
        }
    }

    /// A value is whole: it fills the innermost open array, or comes out when no array is open.
    private mutating func complete(_ value: RESPValue, into out: inout [RESPValue]) throws(RESPError) {
        var value = value
        while true {
            guard var frame = stack.popLast() else {
                out.append(value)
                valueBytes = 0
                return
            }
            frame.items.append(value)
            frame.remaining -= 1
            if frame.remaining > 0 {
                stack.append(frame)
                return
            }
            value = .array(frame.items)
        }
    }

    private mutating func account(_ bytes: Int) throws(RESPError) {
        valueBytes += bytes
        guard valueBytes <= limits.maxValueBytes else {
            throw RESPError("a reply larger than \(limits.maxValueBytes) bytes")
        }
    }

    /// A RESP integer line: an optional `-` and 1 to 18 digits (no overflow is possible).
    static func integer(_ line: [UInt8]) -> Int64? {
        var digits = line[...]
        var negative = false
        if digits.first == UInt8(ascii: "-") {
            negative = true
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var value: Int64 = 0
        for byte in digits {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + Int64(byte - 0x30)
        }
        return negative ? -value : value
    }
}
