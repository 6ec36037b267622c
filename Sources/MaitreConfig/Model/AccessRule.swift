#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `allow` or `deny` line (nginx's access module): a network, or every address.
public struct AccessRule: Sendable, Equatable {
    public var allows: Bool
    /// nil for `all`.
    public var network: IPNetwork?

    public init(allows: Bool, network: IPNetwork?) {
        self.allows = allows
        self.network = network
    }

    /// ngx_http_access_handler: the first rule whose network holds `address` decides; no match allows. An
    /// IPv4-mapped IPv6 client is checked against IPv4 rules, as nginx checks it. `address` is 4 or 16 bytes.
    public static func allows(_ address: [UInt8], by rules: [AccessRule]) -> Bool {
        var address = address
        if address.count == 16, address[0..<10].allSatisfy({ $0 == 0 }), address[10] == 0xFF, address[11] == 0xFF {
            address = Array(address[12..<16])
        }
        for rule in rules where rule.network?.contains(address) ?? true {
            return rule.allows
        }
        return true
    }
}

/// An address with a prefix length: `10.0.0.0/8`, `2001:db8::/32`, or one address (`/32`, `/128`).
public struct IPNetwork: Sendable, Equatable {
    /// 4 or 16 bytes, host bits cleared.
    public let bytes: [UInt8]
    public let prefixLength: Int
    /// The address as written had bits set beyond the prefix (nginx warns: "low address bits ... are meaningless").
    public let hadHostBits: Bool

    /// Parses `ADDRESS[/LENGTH]` (numeric IPv4 or IPv6); nil when it is neither.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        var v4 = in_addr()
        var v6 = in6_addr()
        var bytes: [UInt8]
        let host = String(parts[0])
        if inet_pton(AF_INET, host, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
        let maximum = bytes.count * 8
        var length = maximum
        if parts.count == 2 {
            guard let written = Int(parts[1]), written >= 0, written <= maximum, parts[1].allSatisfy(\.isNumber) else {
                return nil
            }
            length = written
        }
        var hostBits = false
        for index in bytes.indices {
            let keep = max(0, min(8, length - index * 8))
            let mask: UInt8 = keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
            if bytes[index] & ~mask != 0 { hostBits = true }
            bytes[index] &= mask
        }
        self.bytes = bytes
        self.prefixLength = length
        self.hadHostBits = hostBits
    }

    /// True when `address` (4 or 16 bytes) is in this network.
    public func contains(_ address: [UInt8]) -> Bool {
        guard address.count == bytes.count else { return false }
        for index in bytes.indices {
            let keep = max(0, min(8, prefixLength - index * 8))
            let mask: UInt8 = keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
            if address[index] & mask != bytes[index] { return false }
        }
        return true
    }
}
