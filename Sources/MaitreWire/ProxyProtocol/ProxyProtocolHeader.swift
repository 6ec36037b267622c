/// The PROXY protocol (HAProxy's specification, versions 1 and 2) as nginx reads it (ngx_proxy_protocol_read):
/// what a load balancer in front says about the client it accepted. Pure: bytes in, a verdict out; never traps
/// on any input.
public enum ProxyProtocolHeader {
    /// The client and the address it connected to, as the header gives them (`$proxy_protocol_addr`,
    /// `$proxy_protocol_port`, `$proxy_protocol_server_addr`, `$proxy_protocol_server_port`).
    public struct Addresses: Equatable, Sendable {
        public var sourceAddress: String
        public var sourcePort: Int
        public var destinationAddress: String
        public var destinationPort: Int

        public init(sourceAddress: String, sourcePort: Int, destinationAddress: String, destinationPort: Int) {
            self.sourceAddress = sourceAddress
            self.sourcePort = sourcePort
            self.destinationAddress = destinationAddress
            self.destinationPort = destinationPort
        }
    }

    public enum ReadResult: Equatable {
        /// The bytes so far are a valid beginning: wait for more.
        case needMore
        /// A complete header of `length` bytes. No addresses for `PROXY UNKNOWN`, a v2 `LOCAL` command, or a
        /// transport or family nginx does not read (the connection goes on with its own addresses).
        case header(Addresses?, length: Int)
        /// Not a PROXY header: nginx's error-log text (`broken header: "…"`), the connection is closed.
        case invalid(String)
    }

    /// nginx's longest v1 header (NGX_PROXY_PROTOCOL_V1_MAX_HEADER) and longest header of either version.
    public static let maxV1Length = 107
    public static let maxLength = 4096
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    public static func read(_ bytes: UnsafeRawBufferPointer) -> ReadResult {
        let count = bytes.count
        // v2: the signature, or a beginning of it.
        let prefix = min(count, signature.count)
        var matchesSignature = true
        for index in 0..<prefix where bytes[index] != signature[index] {
            matchesSignature = false
            break
        }
        if matchesSignature && count > 0 {
            return count < 16 ? .needMore : readV2(bytes)
        }
        return readV1(bytes)
    }

    // MARK: version 1

    private static func readV1(_ bytes: UnsafeRawBufferPointer) -> ReadResult {
        let count = bytes.count
        let lineEnd = (0..<min(count, maxV1Length)).first { bytes[$0] == 0x0A }
        let proxy = Array("PROXY ".utf8)
        for index in 0..<min(count, proxy.count) where bytes[index] != proxy[index] { return broken(bytes) }
        guard let lineEnd else { return count < maxV1Length ? .needMore : broken(bytes) }
        // nginx needs at least "PROXY " and two more bytes before it looks further.
        guard lineEnd + 1 >= 8 else { return broken(bytes) }
        var position = 6
        if matches(bytes, at: position, "UNKNOWN") {
            // Everything up to CR LF is skipped.
            guard lineEnd > position + 7, bytes[lineEnd - 1] == 0x0D else { return broken(bytes) }
            return .header(nil, length: lineEnd + 1)
        }
        guard matches(bytes, at: position, "TCP"), position + 4 < count,
            bytes[position + 3] == UInt8(ascii: "4") || bytes[position + 3] == UInt8(ascii: "6"),
            bytes[position + 4] == UInt8(ascii: " ")
        else { return broken(bytes) }
        position += 5
        guard let source = address(bytes, &position, end: lineEnd),
            let destination = address(bytes, &position, end: lineEnd),
            let sourcePort = port(bytes, &position, end: lineEnd, separator: UInt8(ascii: " ")),
            let destinationPort = port(bytes, &position, end: lineEnd, separator: 0x0D),
            position == lineEnd
        else { return broken(bytes) }
        return .header(
            Addresses(sourceAddress: source, sourcePort: sourcePort, destinationAddress: destination,
                      destinationPort: destinationPort), length: lineEnd + 1)
    }

    private static func matches(_ bytes: UnsafeRawBufferPointer, at position: Int, _ text: String) -> Bool {
        let wanted = Array(text.utf8)
        guard position + wanted.count <= bytes.count else { return false }
        for (offset, byte) in wanted.enumerated() where bytes[position + offset] != byte { return false }
        return true
    }

    /// ngx_proxy_protocol_read_addr: hex digits, `.` and `:` up to a space.
    private static func address(_ bytes: UnsafeRawBufferPointer, _ position: inout Int, end: Int) -> String? {
        let start = position
        while position < end {
            let byte = bytes[position]
            position += 1
            if byte == UInt8(ascii: " ") {
                return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<(position - 1)]), as: UTF8.self)
            }
            let isHex = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
            guard isHex || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":") else { return nil }
        }
        return nil
    }

    /// ngx_proxy_protocol_read_port: decimal digits up to the separator, 0…65535.
    private static func port(
        _ bytes: UnsafeRawBufferPointer, _ position: inout Int, end: Int, separator: UInt8
    ) -> Int? {
        var value = 0
        var digits = 0
        while position < end {
            let byte = bytes[position]
            position += 1
            if byte == separator { return digits > 0 && value <= 65535 ? value : nil }
            guard byte >= 0x30 && byte <= 0x39, digits < 5 else { return nil }
            value = value * 10 + Int(byte - 0x30)
            digits += 1
        }
        return nil
    }

    private static func broken(_ bytes: UnsafeRawBufferPointer) -> ReadResult {
        var end = 0
        while end < bytes.count && end < maxV1Length && bytes[end] != 0x0D && bytes[end] != 0x0A { end += 1 }
        return .invalid("broken header: \"\(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self))\"")
    }

    // MARK: version 2

    private static func readV2(_ bytes: UnsafeRawBufferPointer) -> ReadResult {
        let version = bytes[12] >> 4
        guard version == 2 else { return .invalid("unknown PROXY protocol version: \(version)") }
        let length = Int(bytes[14]) << 8 | Int(bytes[15])
        guard 16 + length <= maxLength else { return .invalid("header is too large") }
        guard bytes.count >= 16 + length else { return .needMore }
        let total = 16 + length
        let command = bytes[12] & 0x0F
        let family = bytes[13] >> 4
        let transport = bytes[13] & 0x0F
        // Only PROXY over STREAM is read; anything else is skipped whole.
        guard command == 1, transport == 1 else { return .header(nil, length: total) }
        switch family {
        case 1:
            guard length >= 12 else { return .invalid("broken PROXY protocol v2 header") }
            return .header(
                Addresses(
                    sourceAddress: IPText.v4(bytes, at: 16), sourcePort: Int(bytes[24]) << 8 | Int(bytes[25]),
                    destinationAddress: IPText.v4(bytes, at: 20), destinationPort: Int(bytes[26]) << 8 | Int(bytes[27])),
                length: total)
        case 2:
            guard length >= 36 else { return .invalid("broken PROXY protocol v2 header") }
            return .header(
                Addresses(
                    sourceAddress: IPText.v6(bytes, at: 16), sourcePort: Int(bytes[48]) << 8 | Int(bytes[49]),
                    destinationAddress: IPText.v6(bytes, at: 32), destinationPort: Int(bytes[50]) << 8 | Int(bytes[51])),
                length: total)
        default:
            return .header(nil, length: total)
        }
    }
}
