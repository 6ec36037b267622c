/// The client key ip_hash uses: nginx hashes IPv4's first three octets, IPv6's 16 bytes, other families as 3 zero bytes.
public enum ClientAddressKey: Sendable, Equatable {
    case ipv4(UInt8, UInt8, UInt8, UInt8)
    /// 16 bytes in network order.
    case ipv6([UInt8])
    case other

    /// Parses a numeric IPv4/IPv6 text address ("127.1.2.3", "::1", "::ffff:1.2.3.4" stays IPv6 as nginx sees an AF_INET6
    /// socket); .other if unparsable. Brackets ("[::1]") and a zone suffix ("fe80::1%eth0") are tolerated; a port is not.
    public init(numericAddress: String) {
        var text = Substring(numericAddress)
        if text.first == "[" && text.last == "]" {
            text = text.dropFirst().dropLast()
        }
        if let octets = Self.parseIPv4(text) {
            self = .ipv4(octets.0, octets.1, octets.2, octets.3)
        } else if let bytes = Self.parseIPv6(text) {
            self = .ipv6(bytes)
        } else {
            self = .other
        }
    }

    /// Dotted quad as inet_pton(AF_INET) accepts it: exactly four decimal parts 0...255, no leading zeros.
    private static func parseIPv4(_ text: Substring) -> (UInt8, UInt8, UInt8, UInt8)? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var octets: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count),
                  part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  part.count == 1 || part.first != "0",
                  let value = UInt8(part)
            else { return nil }
            octets.append(value)
        }
        return (octets[0], octets[1], octets[2], octets[3])
    }

    /// RFC 4291 text form: up to eight 1–4 digit hex groups, one `::`, optionally a dotted quad in the last 32 bits.
    private static func parseIPv6(_ text: Substring) -> [UInt8]? {
        var address = text
        if let zone = address.firstIndex(of: "%") {
            address = address[..<zone]
        }
        guard address.contains(":") else { return nil }

        guard let gap = address.firstRange(of: "::") else {
            guard let bytes = parseGroups(address, allowsTrailingIPv4: true), bytes.count == 16 else { return nil }
            return bytes
        }
        let tailText = address[gap.upperBound...]
        guard !tailText.contains("::"),
              let head = parseGroups(address[..<gap.lowerBound], allowsTrailingIPv4: false),
              let tail = parseGroups(tailText, allowsTrailingIPv4: true),
              head.count + tail.count <= 14
        else { return nil }
        return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    /// Colon-separated hex groups (possibly none) as bytes; a final dotted quad counts as two groups.
    private static func parseGroups(_ text: Substring, allowsTrailingIPv4: Bool) -> [UInt8]? {
        if text.isEmpty { return [] }
        let groups = text.split(separator: ":", omittingEmptySubsequences: false)
        var bytes: [UInt8] = []
        for (index, group) in groups.enumerated() {
            if index == groups.count - 1, allowsTrailingIPv4, group.contains(".") {
                guard let quad = parseIPv4(group) else { return nil }
                bytes += [quad.0, quad.1, quad.2, quad.3]
                continue
            }
            guard (1...4).contains(group.count), group.allSatisfy(\.isHexDigit), let value = UInt16(group, radix: 16) else {
                return nil
            }
            bytes += [UInt8(value >> 8), UInt8(value & 0xff)]
        }
        return bytes.count <= 16 ? bytes : nil
    }
}
