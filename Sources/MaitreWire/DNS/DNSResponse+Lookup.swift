/// An address found in a response, for a peer's `host:port`.
public enum DNSAddress: Hashable, Sendable, CustomStringConvertible {
    case ipv4(UInt8, UInt8, UInt8, UInt8)
    /// The 16 bytes of an IPv6 address. (Parsed ones always have 16; `text` reads a shorter array as
    /// zero-padded and ignores bytes past 16 rather than trap.)
    case ipv6([UInt8])

    /// The numeric text form: "10.0.0.1", or for IPv6 the RFC 5952 form ("2001:db8::1", lowercase, the longest
    /// run of two or more zero groups as "::", IPv4-mapped addresses as "::ffff:192.0.2.1"), which `inet_pton`
    /// reads back.
    public var text: String {
        switch self {
        case .ipv4(let a, let b, let c, let d):
            return "\(a).\(b).\(c).\(d)"
        case .ipv6(let bytes):
            return Self.ipv6Text(bytes)
        }
    }

    public var description: String { text }

    private static func ipv6Text(_ bytes: [UInt8]) -> String {
        let padded = Array(bytes.prefix(16)) + [UInt8](repeating: 0, count: max(0, 16 - bytes.count))
        let groups = (0..<8).map { UInt16(padded[2 * $0]) << 8 | UInt16(padded[2 * $0 + 1]) }
        if groups[0..<5].allSatisfy({ $0 == 0 }) && groups[5] == 0xFFFF {
            return "::ffff:\(padded[12]).\(padded[13]).\(padded[14]).\(padded[15])"
        }
        // The longest run of zero groups, the first of equals; a single zero group is not shortened (RFC 5952 §4.2).
        var bestStart = -1
        var bestLength = 1
        var runStart = 0
        for index in 0...8 {
            if index < 8 && groups[index] == 0 { continue }
            if index - runStart > bestLength {
                bestStart = runStart
                bestLength = index - runStart
            }
            runStart = index + 1
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}

/// One SRV answer: where a service instance listens (RFC 2782).
public typealias DNSService = (priority: UInt16, weight: UInt16, port: UInt16, target: String)

extension DNSResponse {
    /// At most this many CNAME records are followed from the name asked for. A chain longer than this (or a
    /// loop) yields nothing, as if the response held no address.
    public static let maxAliasHops = 8

    /// Whether this response answers the query that was sent: a response (QR), the same ID, and the same
    /// question, name compared normalized (a server may change its case). Anything else is a stray or spoofed
    /// datagram to drop.
    public func matches(id: UInt16, name: String, type: DNSRecordType) -> Bool {
        isResponse && self.id == id && questionType == type.rawValue && questionName == DNSQuery.normalized(name)
    }

    /// The A (`type` .a) or AAAA (`type` .aaaa) addresses of `name` in the answer section, following the CNAME
    /// chain from `name` (at most `maxAliasHops` hops) and taking the addresses of the final name. The TTL is the
    /// minimum over the aliases followed and the addresses found; both are empty/0 when no address is found (also
    /// for any other `type`). Records whose owner is not on the chain are ignored.
    public func addresses(for name: String, type: DNSRecordType) -> (addresses: [DNSAddress], ttl: UInt32) {
        Self.addresses(in: answers, for: name, type: type)
    }

    /// The SRV answers for `name` (following CNAMEs as `addresses` does), in the order the server sent them, with
    /// their minimum TTL (the aliases' included). A record whose target is "." (service decidedly not available,
    /// RFC 2782) is left out.
    public func services(for name: String) -> (records: [DNSService], ttl: UInt32) {
        guard let (finalName, aliasTTL) = Self.resolveAliases(in: answers, from: name) else { return ([], 0) }
        var ttl = aliasTTL ?? UInt32.max
        var records: [DNSService] = []
        for record in answers where record.name == finalName {
            guard case .srv(let priority, let weight, let port, let target) = record.data else { continue }
            ttl = min(ttl, record.ttl)
            if target.isEmpty { continue }
            records.append((priority, weight, port, target))
        }
        return records.isEmpty ? ([], 0) : (records, ttl)
    }

    /// The addresses the additional section gives for an SRV target (or any `name`), as `addresses` reads the
    /// answer section. Servers add them to save the follow-up queries; when absent the resolver asks for them.
    public func additionalAddresses(for name: String, type: DNSRecordType) -> (addresses: [DNSAddress], ttl: UInt32) {
        Self.addresses(in: additionals, for: name, type: type)
    }

    private static func addresses(in records: [DNSRecord], for name: String, type: DNSRecordType)
        -> (addresses: [DNSAddress], ttl: UInt32)
    {
        guard let (finalName, aliasTTL) = resolveAliases(in: records, from: name) else { return ([], 0) }
        var ttl = aliasTTL ?? UInt32.max
        var addresses: [DNSAddress] = []
        for record in records where record.name == finalName {
            switch (type, record.data) {
            case (.a, .ipv4(let a, let b, let c, let d)):
                addresses.append(.ipv4(a, b, c, d))
            case (.aaaa, .ipv6(let bytes)):
                addresses.append(.ipv6(bytes))
            default:
                continue
            }
            ttl = min(ttl, record.ttl)
        }
        return addresses.isEmpty ? ([], 0) : (addresses, ttl)
    }

    /// The name at the end of the CNAME chain from `name` within `records` and the minimum TTL of the CNAMEs
    /// followed (nil when none); nil altogether when the name is still an alias after `maxAliasHops` hops (a loop
    /// or an overlong chain). A name with several CNAMEs (invalid) follows the first.
    private static func resolveAliases(in records: [DNSRecord], from name: String) -> (name: String, ttl: UInt32?)? {
        func alias(of owner: String) -> (target: String, ttl: UInt32)? {
            for record in records where record.name == owner {
                if case .cname(let target) = record.data { return (target, record.ttl) }
            }
            return nil
        }
        var current = DNSQuery.normalized(name)
        var ttl: UInt32?
        var hops = 0
        while let next = alias(of: current) {
            guard hops < maxAliasHops else { return nil }
            hops += 1
            current = next.target
            ttl = min(ttl ?? UInt32.max, next.ttl)
        }
        return (current, ttl)
    }
}
