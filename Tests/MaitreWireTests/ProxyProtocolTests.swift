import XCTest

@testable import MaitreWire

/// The PROXY protocol header as nginx reads and writes it (ngx_proxy_protocol.c), and no trap on any input.
final class ProxyProtocolTests: XCTestCase {
    private func read(_ bytes: [UInt8]) -> ProxyProtocolHeader.ReadResult {
        bytes.withUnsafeBytes { ProxyProtocolHeader.read($0) }
    }

    private func read(_ text: String) -> ProxyProtocolHeader.ReadResult { read(Array(text.utf8)) }

    func testVersionOneLines() {
        XCTAssertEqual(
            read("PROXY TCP4 203.0.113.9 192.0.2.1 51234 443\r\nGET / HTTP/1.1\r\n"),
            .header(.init(sourceAddress: "203.0.113.9", sourcePort: 51234, destinationAddress: "192.0.2.1",
                          destinationPort: 443), length: 44))
        XCTAssertEqual(
            read("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n"),
            .header(.init(sourceAddress: "2001:db8::1", sourcePort: 1, destinationAddress: "2001:db8::2",
                          destinationPort: 65535), length: 44))
        XCTAssertEqual(read("PROXY UNKNOWN ffff:f...f ffff:f...f 65535 65535\r\nrest"), .header(nil, length: 49))
        XCTAssertEqual(read("PROXY UNKNOWN\r\n"), .header(nil, length: 15))
    }

    func testPartialHeadersWaitAndBrokenOnesAreNamedAsNginxNamesThem() {
        XCTAssertEqual(read("PRO"), .needMore)
        XCTAssertEqual(read("PROXY TCP4 203.0.113.9 19"), .needMore)
        XCTAssertEqual(read("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), .invalid("broken header: \"GET / HTTP/1.1\""))
        XCTAssertEqual(read("PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n"), .invalid("broken header: \"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\""))
        XCTAssertEqual(read("PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n"),
                       .invalid("broken header: \"PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\""))
        XCTAssertEqual(read("PROXY TCP4 1.2.3.z 1.2.3.4 1 2\r\n"),
                       .invalid("broken header: \"PROXY TCP4 1.2.3.z 1.2.3.4 1 2\""))
        XCTAssertEqual(read("PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n"), .invalid("broken header: \"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\""))
        let long = "PROXY TCP4 " + String(repeating: "1", count: 120)
        guard case .invalid = read(long) else { return XCTFail("a line past 107 bytes is broken") }
    }

    func testVersionTwoHeaders() {
        let v4 = ProxyProtocolWriter.v2(
            source: .init(address: [203, 0, 113, 9], port: 51234), destination: .init(address: [192, 0, 2, 1], port: 443))
        XCTAssertEqual(Array(v4[0..<16]), ProxyProtocolHeader.signature + [0x21, 0x11, 0x00, 12 + 7])
        XCTAssertEqual(read(v4 + Array("GET".utf8)),
                       .header(.init(sourceAddress: "203.0.113.9", sourcePort: 51234, destinationAddress: "192.0.2.1",
                                     destinationPort: 443), length: v4.count))
        XCTAssertEqual(read(Array(v4.dropLast())), .needMore)
        let v6Address: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        let v6 = ProxyProtocolWriter.v2(
            source: .init(address: v6Address, port: 80), destination: .init(address: [127, 0, 0, 1], port: 8080))
        XCTAssertEqual(v6[13], 0x21, "IPv6 when either side is")
        XCTAssertEqual(read(v6), .header(.init(sourceAddress: "2001:db8::1", sourcePort: 80,
                                              destinationAddress: "::ffff:127.0.0.1", destinationPort: 8080),
                                         length: v6.count))
        let local = ProxyProtocolWriter.v2(source: nil, destination: nil)
        XCTAssertEqual(local[12], 0x20)
        XCTAssertEqual(read(local), .header(nil, length: local.count))
        var version3 = v4
        version3[12] = 0x31
        XCTAssertEqual(read(version3), .invalid("unknown PROXY protocol version: 3"))
        var huge = v4
        huge[14] = 0xFF
        XCTAssertEqual(read(huge), .invalid("header is too large"))
    }

    func testVersionTwoChecksumIsNginxsCRC32C() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        let header = ProxyProtocolWriter.v2(
            source: .init(address: [10, 0, 0, 1], port: 1), destination: .init(address: [10, 0, 0, 2], port: 2))
        // The TLV is the last 7 bytes: type 3, length 4, then the CRC over the header with the value zeroed.
        XCTAssertEqual(Array(header[(header.count - 7)..<(header.count - 4)]), [0x03, 0x00, 0x04])
        var zeroed = header
        for index in (header.count - 4)..<header.count { zeroed[index] = 0 }
        let crc = CRC32C.checksum(zeroed)
        XCTAssertEqual(Array(header.suffix(4)), [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF),
                                                 UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)])
    }

    func testVersionOneWriterRoundTrips() {
        let line = ProxyProtocolWriter.v1(
            source: .init(address: [127, 0, 0, 5], port: 40000), destination: .init(address: [127, 0, 0, 1], port: 80))
        XCTAssertEqual(String(decoding: line, as: UTF8.self), "PROXY TCP4 127.0.0.5 127.0.0.1 40000 80\r\n")
        XCTAssertEqual(String(decoding: ProxyProtocolWriter.v1(source: nil, destination: nil), as: UTF8.self),
                       "PROXY UNKNOWN\r\n")
    }

    /// 20,000 fixed-seed inputs, random and mutated headers, at every length: a verdict each, never a trap, and a
    /// header's length never past the input.
    func testFuzzedInputsNeverTrap() {
        var seed: UInt64 = 0x5EED_0F_9A0C01
        func next() -> UInt64 {
            seed &+= 0x9E37_79B9_7F4A_7C15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let seeds: [[UInt8]] = [
            Array("PROXY TCP4 203.0.113.9 192.0.2.1 51234 443\r\n".utf8), Array("PROXY UNKNOWN\r\n".utf8),
            ProxyProtocolWriter.v2(source: .init(address: [1, 2, 3, 4], port: 5), destination: .init(address: [6, 7, 8, 9], port: 10)),
            ProxyProtocolHeader.signature + [0x21, 0x21, 0, 36] + [UInt8](repeating: 7, count: 36),
        ]
        var headers = 0
        for round in 0..<20_000 {
            var input: [UInt8]
            if round % 4 == 0 {
                input = (0..<Int(next() % 200)).map { _ in UInt8(truncatingIfNeeded: next()) }
            } else {
                input = seeds[Int(next() % UInt64(seeds.count))]
                for _ in 0..<Int(next() % 4) where !input.isEmpty {
                    input[Int(next() % UInt64(input.count))] = UInt8(truncatingIfNeeded: next())
                }
                input = Array(input.prefix(Int(next() % UInt64(input.count + 8))))
            }
            switch read(input) {
            case .header(_, let length):
                headers += 1
                XCTAssertLessThanOrEqual(length, input.count)
                XCTAssertGreaterThan(length, 0)
            case .needMore, .invalid:
                break
            }
        }
        XCTAssertGreaterThan(headers, 1000, "the mutations keep many headers valid")
    }
}
