/// The record types the balancer's re-resolution asks for and follows (RFC 1035, RFC 3596, RFC 2782).
public enum DNSRecordType: UInt16, Sendable, CaseIterable {
    /// An IPv4 address.
    case a = 1
    /// An alias: the name's records are those of another name.
    case cname = 5
    /// An IPv6 address.
    case aaaa = 28
    /// A service location: priority, weight, port and target host (`server NAME service=http resolve`).
    case srv = 33
}

/// The class of every record the balancer asks for: Internet.
let dnsClassIN: UInt16 = 1

/// A standard DNS query (one question, recursion desired) for a balancer's upstream name, and the reverse: the
/// question of a query a test server received.
public struct DNSQuery: Sendable {
    /// The wire form of a query for `name`: ID `id`, RD set, one question of class IN; nil when the name cannot be
    /// a domain name (an empty label, a label over 63 bytes, more than 253 bytes of text, an escape counting as
    /// the byte it stands for, or a malformed `\` escape). One trailing dot is allowed; "." (the root) is refused,
    /// it names no host. `\DDD` and `\X` escapes are read as in the presentation form the response parser
    /// produces, so a decoded name encodes back to the same bytes. The name's case is kept as written.
    public static func encode(id: UInt16, name: String, type: DNSRecordType) -> [UInt8]? {
        guard let wireName = DNSName.wire(fromText: name) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(16 + wireName.count)
        out.appendUInt16(id)
        out.appendUInt16(0x0100)  // QR 0 (query), opcode 0, RD 1
        out.appendUInt16(1)  // QDCOUNT
        out.appendUInt16(0)  // ANCOUNT
        out.appendUInt16(0)  // NSCOUNT
        out.appendUInt16(0)  // ARCOUNT
        out.append(contentsOf: wireName)
        out.appendUInt16(type.rawValue)
        out.appendUInt16(dnsClassIN)
        return out
    }

    /// The ID, name (normalized) and raw type of a query's single question; nil when the bytes are not a query
    /// (QR set), do not hold exactly one question, or are malformed. The type is raw so that a test server can
    /// answer types this codec does not name. The question's class is not checked.
    public static func parse(_ bytes: [UInt8]) -> (id: UInt16, name: String, type: UInt16)? {
        guard bytes.count >= 12, bytes[2] & 0x80 == 0, bytes.uint16(at: 4) == 1 else { return nil }
        guard let (name, end) = try? DNSName.decode(bytes, at: 12), end + 4 <= bytes.count else { return nil }
        return (bytes.uint16(at: 0), name, bytes.uint16(at: end))
    }

    /// `name` in the form names are compared in: ASCII letters lowercased, no trailing dot, escapes in the
    /// canonical form the response parser produces ("WWW.Example.com." and "www.example.com" are equal). A name
    /// that is not a valid domain name is only lowercased (ASCII) and loses one trailing dot.
    public static func normalized(_ name: String) -> String {
        // Most names (those the parser returns, unless escaped) are normalized already: printable, lowercase, no
        // escapes, no trailing dot. Such a name comes back unchanged from either path below, so skip the work.
        let utf8 = name.utf8
        if utf8.last != UInt8(ascii: "."),
            utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") && ($0 < 0x41 || $0 > 0x5A) })
        {
            return name
        }
        if let text = DNSName.normalizedText(name) { return text }
        var bytes = Array(name.utf8).map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        if bytes.last == UInt8(ascii: ".") { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension [UInt8] {
    mutating func appendUInt16(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    mutating func appendUInt32(_ value: UInt32) {
        appendUInt16(UInt16(truncatingIfNeeded: value >> 16))
        appendUInt16(UInt16(truncatingIfNeeded: value))
    }

    /// The big-endian 16-bit number at `offset`; the caller has checked that two bytes are there.
    func uint16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    /// The big-endian 32-bit number at `offset`; the caller has checked that four bytes are there.
    func uint32(at offset: Int) -> UInt32 {
        UInt32(uint16(at: offset)) << 16 | UInt32(uint16(at: offset + 2))
    }
}
