/// Writes the PROXY protocol header a balancer sends before the client's bytes, as nginx writes it
/// (ngx_proxy_protocol_write for `proxy_protocol on`, ngx_proxy_protocol_v2_write for `v2`: the addresses and a
/// CRC32c TLV, no other TLV without TLS).
public enum ProxyProtocolWriter {
    /// One end of the client connection: its address's raw bytes (4 or 16) and port.
    public struct Endpoint: Equatable, Sendable {
        public var address: [UInt8]
        public var port: Int

        public init(address: [UInt8], port: Int) {
            self.address = address
            self.port = port
        }

        var isIPv6: Bool { address.count == 16 }
        var text: String { isIPv6 ? IPText.v6(address) : IPText.v4(address) }
    }

    /// `PROXY TCP4 198.51.100.1 203.0.113.7 51234 443\r\n` (`PROXY UNKNOWN\r\n` without addresses).
    public static func v1(source: Endpoint?, destination: Endpoint?) -> [UInt8] {
        guard let source, let destination, source.address.count == 4 || source.address.count == 16 else {
            return Array("PROXY UNKNOWN\r\n".utf8)
        }
        let family = source.isIPv6 ? "TCP6" : "TCP4"
        return Array("PROXY \(family) \(source.text) \(destination.text) \(source.port) \(destination.port)\r\n".utf8)
    }

    /// The binary header: signature, PROXY over STREAM (or DGRAM), both addresses (IPv6 when either side is,
    /// IPv4 ones mapped), then the CRC32c TLV over the whole header. `LOCAL` without addresses.
    public static func v2(source: Endpoint?, destination: Endpoint?, datagram: Bool = false) -> [UInt8] {
        var out = ProxyProtocolHeader.signature
        let valid = [4, 16]
        guard let source, let destination, valid.contains(source.address.count), valid.contains(destination.address.count)
        else {
            out += [0x20, 0x00, 0x00, 0x00]  // LOCAL, UNSPEC, the length set below
            return withCRC(out)
        }
        let transport: UInt8 = datagram ? 2 : 1
        if !source.isIPv6 && !destination.isIPv6 {
            out += [0x21, 0x10 | transport, 0, 0]
            out += source.address + destination.address
        } else {
            out += [0x21, 0x20 | transport, 0, 0]
            out += mapped(source.address) + mapped(destination.address)
        }
        out += [UInt8(truncatingIfNeeded: source.port >> 8), UInt8(truncatingIfNeeded: source.port)]
        out += [UInt8(truncatingIfNeeded: destination.port >> 8), UInt8(truncatingIfNeeded: destination.port)]
        return withCRC(out)
    }

    private static func mapped(_ address: [UInt8]) -> [UInt8] {
        address.count == 16 ? address : [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + address
    }

    /// Appends the CRC32c TLV (type 0x03) and sets the length: the checksum covers the whole header with the
    /// TLV's value zeroed.
    private static func withCRC(_ header: [UInt8]) -> [UInt8] {
        var out = header + [0x03, 0x00, 0x04, 0, 0, 0, 0]
        let length = out.count - 16
        out[14] = UInt8(length >> 8)
        out[15] = UInt8(length & 0xFF)
        let crc = CRC32C.checksum(out)
        let end = out.count
        out[end - 4] = UInt8(crc >> 24)
        out[end - 3] = UInt8((crc >> 16) & 0xFF)
        out[end - 2] = UInt8((crc >> 8) & 0xFF)
        out[end - 1] = UInt8(crc & 0xFF)
        return out
    }
}

/// CRC-32C (Castagnoli), as the PROXY protocol v2 checksum TLV uses it.
enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1 }
        return value
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

/// Addresses as nginx prints them (ngx_sock_ntop): dotted quads, and RFC 5952 IPv6 text with IPv4-mapped ones as
/// `::ffff:a.b.c.d`.
enum IPText {
    static func v4(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> String {
        v4((0..<4).map { bytes[offset + $0] })
    }

    static func v6(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> String {
        v6((0..<16).map { bytes[offset + $0] })
    }

    static func v4(_ bytes: [UInt8]) -> String {
        bytes.prefix(4).map { String($0) }.joined(separator: ".")
    }

    static func v6(_ bytes: [UInt8]) -> String {
        guard bytes.count == 16 else { return "" }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return "::ffff:" + v4(Array(bytes[12..<16]))
        }
        let words = (0..<8).map { Int(bytes[$0 * 2]) << 8 | Int(bytes[$0 * 2 + 1]) }
        // The longest run of two or more zero words becomes "::" (the first of equal runs).
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < 8 {
            guard words[index] == 0 else {
                index += 1
                continue
            }
            var end = index
            while end < 8 && words[end] == 0 { end += 1 }
            if end - index > bestLength {
                bestStart = index
                bestLength = end - index
            }
            index = end
        }
        func hex(_ range: Range<Int>) -> String {
            words[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}
