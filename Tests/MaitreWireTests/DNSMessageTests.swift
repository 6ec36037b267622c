import XCTest

@testable import MaitreWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The DNS codec: queries as sent, responses as read (hand-written RFC 1035 bytes and built ones), what the
/// resolver asks of a response (addresses through CNAME chains, SRV services) and what is refused.
final class DNSMessageTests: XCTestCase {
    /// Bytes from hex pairs; spaces and newlines separate nothing but make the layout readable.
    private func hex(_ text: String) -> [UInt8] {
        let digits = Array(text.filter { !$0.isWhitespace })
        return stride(from: 0, to: digits.count - 1, by: 2).map { UInt8(String(digits[$0...($0 + 1)]), radix: 16)! }
    }

    private func parsed(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> DNSResponse {
        switch DNSResponse.parse(bytes) {
        case .success(let response): return response
        case .failure(let error): XCTFail("parse failed: \(error)", file: file, line: line)
            throw error
        }
    }

    private func parseError(_ bytes: [UInt8]) -> DNSParseError? {
        if case .failure(let error) = DNSResponse.parse(bytes) { return error }
        return nil
    }

    private func built(_ builder: DNSResponseBuilder, file: StaticString = #filePath, line: UInt = #line) throws -> DNSResponse {
        try parsed(try XCTUnwrap(builder.encode(), file: file, line: line), file: file, line: line)
    }

    // MARK: Queries

    /// The query for www.Example.com. A: header with RD, one question, labels, type A, class IN; case kept.
    func testQueryLayout() throws {
        let query = try XCTUnwrap(DNSQuery.encode(id: 0x1234, name: "www.Example.com.", type: .a))
        XCTAssertEqual(query, hex("""
            1234 0100 0001 0000 0000 0000
            03 777777 07 4578616d706c65 03 636f6d 00
            0001 0001
            """))
        XCTAssertEqual(DNSQuery.encode(id: 1, name: "svc.test", type: .srv)?.suffix(4), [0, 33, 0, 1])
    }

    /// Names that cannot be domain names are refused; the limits themselves are accepted.
    func testQueryNameLimits() {
        let label63 = String(repeating: "a", count: 63)
        for bad in ["", ".", "a..b", ".a", "a.b..", String(repeating: "b", count: 64) + ".test", "a\\", "a\\25", "\\256"] {
            XCTAssertNil(DNSQuery.encode(id: 1, name: bad, type: .a), bad)
        }
        XCTAssertNotNil(DNSQuery.encode(id: 1, name: label63 + ".test", type: .a))
        // 253 bytes of text (255 on the wire) is the longest name; 254 is too long, a trailing dot is free.
        let longest = [label63, label63, label63, String(repeating: "c", count: 61)].joined(separator: ".")
        XCTAssertEqual(longest.utf8.count, 253)
        XCTAssertEqual(DNSQuery.encode(id: 1, name: longest, type: .a)?.count, 12 + 255 + 4)
        XCTAssertNotNil(DNSQuery.encode(id: 1, name: longest + ".", type: .a))
        XCTAssertNil(DNSQuery.encode(id: 1, name: longest + "c", type: .a))
    }

    /// A query reads back as its ID, normalized name and type; responses and malformed queries are not queries.
    func testQueryParseRoundTrip() throws {
        let query = try XCTUnwrap(DNSQuery.encode(id: 0xBEEF, name: "Api.Internal.", type: .aaaa))
        let question = try XCTUnwrap(DNSQuery.parse(query))
        XCTAssertEqual(question.id, 0xBEEF)
        XCTAssertEqual(question.name, "api.internal")
        XCTAssertEqual(question.type, DNSRecordType.aaaa.rawValue)
        var unknownType = query
        unknownType[unknownType.count - 3] = 99
        XCTAssertEqual(DNSQuery.parse(unknownType)?.type, 99)
        var response = query
        response[2] |= 0x80
        XCTAssertNil(DNSQuery.parse(response))
        for length in 0..<query.count {
            XCTAssertNil(DNSQuery.parse(Array(query.prefix(length))), "prefix \(length)")
        }
    }

    /// Names compare lowercased, without the trailing dot, escapes in one canonical form.
    func testNormalized() {
        XCTAssertEqual(DNSQuery.normalized("WWW.Example.COM."), "www.example.com")
        XCTAssertEqual(DNSQuery.normalized("\\065b.test"), "ab.test")
        XCTAssertEqual(DNSQuery.normalized("a\\.b.test"), "a\\.b.test")
        XCTAssertEqual(DNSQuery.normalized("sp\\ ace"), "sp\\032ace")
        XCTAssertEqual(DNSQuery.normalized("Bad..Name."), "bad..name")
        XCTAssertEqual(DNSQuery.normalized(""), "")
    }

    // MARK: Hand-written responses

    /// RFC 1035 §4.1 layout with §4.1.4 compression, written out by hand: www.example.com is a CNAME (TTL 3600)
    /// for web.example.com, which has one A record (TTL 60). The CNAME's data and the A record's owner are
    /// pointers (to "example.com" in the question, and to "web.example.com" in the CNAME's data).
    static let compressedResponse = """
        BEEF 8180 0001 0002 0000 0000
        03 777777 07 6578616d706c65 03 636f6d 00  0001 0001
        C00C 0005 0001 00000E10 0006  03 776562 C010
        C02D 0001 0001 0000003C 0004  5DB8D822
        """

    func testHandWrittenCompressedResponse() throws {
        let response = try parsed(hex(Self.compressedResponse))
        XCTAssertEqual(response.id, 0xBEEF)
        XCTAssertTrue(response.isResponse)
        XCTAssertFalse(response.isTruncated)
        XCTAssertFalse(response.isAuthoritative)
        XCTAssertEqual(response.rcode, DNSResponse.ResponseCode.noError)
        XCTAssertEqual(response.questionName, "www.example.com")
        XCTAssertEqual(response.questionType, 1)
        XCTAssertEqual(response.answers, [
            DNSRecord(name: "www.example.com", ttl: 3600, data: .cname("web.example.com")),
            DNSRecord(name: "web.example.com", ttl: 60, data: .ipv4(93, 184, 216, 34)),
        ])
        XCTAssertEqual(response.additionals, [])
        let found = response.addresses(for: "WWW.example.com.", type: .a)
        XCTAssertEqual(found.addresses.map(\.text), ["93.184.216.34"])
        XCTAssertEqual(found.ttl, 60)
        XCTAssertTrue(response.addresses(for: "www.example.com", type: .aaaa).addresses.isEmpty)
        XCTAssertTrue(response.matches(id: 0xBEEF, name: "www.example.com.", type: .a))
    }

    /// Label bytes that are not printable ASCII, dots and backslashes come out escaped, and encode back.
    func testOddLabelBytesAreEscaped() throws {
        let bytes = hex("""
            0001 8000 0001 0000 0000 0000
            07 412E20005CC37A 04 74657374 00  0001 0001
            """)
        let response = try parsed(bytes)
        XCTAssertEqual(response.questionName, "a\\.\\032\\000\\\\\\195z.test")
        let query = try XCTUnwrap(DNSQuery.encode(id: 1, name: response.questionName, type: .a))
        XCTAssertEqual(Array(query[12...]), [7, 0x61] + Array(bytes[14...]))
    }

    // MARK: Built responses

    /// AAAA answers read back with their bytes and RFC 5952 text; records of other owners are ignored.
    func testAAAAResponse() throws {
        var builder = DNSResponseBuilder(id: 7, questionName: "v6.test", questionType: .aaaa)
        let address: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1]
        builder.answers = [
            DNSRecord(name: "v6.test", ttl: 120, data: .ipv6(address)),
            DNSRecord(name: "other.test", ttl: 5, data: .ipv6([UInt8](repeating: 0xFF, count: 16))),
        ]
        let response = try built(builder)
        XCTAssertEqual(response.answers[0].data, .ipv6(address))
        XCTAssertEqual(response.answers[0].type, 28)
        let found = response.addresses(for: "v6.test", type: .aaaa)
        XCTAssertEqual(found.addresses, [.ipv6(address)])
        XCTAssertEqual(found.addresses.map(\.text), ["2001:db8::1"])
        XCTAssertEqual(found.ttl, 120)
    }

    /// A CNAME chain is followed to its A records; the TTL is the minimum along the chain.
    func testCNAMEChainAndMinimumTTL() throws {
        var builder = DNSResponseBuilder(id: 9, questionName: "www.shop.test", questionType: .a)
        builder.answers = [
            DNSRecord(name: "www.shop.test", ttl: 300, data: .cname("edge.cdn.test")),
            DNSRecord(name: "edge.cdn.test", ttl: 20, data: .cname("Pool-3.cdn.test.")),
            DNSRecord(name: "pool-3.cdn.test", ttl: 60, data: .ipv4(10, 0, 0, 1)),
            DNSRecord(name: "pool-3.cdn.test", ttl: 90, data: .ipv4(10, 0, 0, 2)),
            DNSRecord(name: "edge.cdn.test", ttl: 1, data: .ipv4(192, 0, 2, 9)),
        ]
        let response = try built(builder)
        let found = response.addresses(for: "www.shop.test", type: .a)
        XCTAssertEqual(found.addresses.map(\.text), ["10.0.0.1", "10.0.0.2"])
        XCTAssertEqual(found.ttl, 20)
        XCTAssertEqual(response.answers[1].data, .cname("pool-3.cdn.test"))
    }

    /// Eight CNAME hops are followed, a ninth is not; a loop finds nothing instead of spinning.
    func testCNAMEChainIsBounded() throws {
        func chain(hops: Int) -> DNSResponseBuilder {
            var builder = DNSResponseBuilder(id: 1, questionName: "n0.test", questionType: .a)
            for hop in 0..<hops {
                builder.answers.append(DNSRecord(name: "n\(hop).test", ttl: 30, data: .cname("n\(hop + 1).test")))
            }
            builder.answers.append(DNSRecord(name: "n\(hops).test", ttl: 30, data: .ipv4(10, 0, 0, 8)))
            return builder
        }
        XCTAssertEqual(try built(chain(hops: DNSResponse.maxAliasHops)).addresses(for: "n0.test", type: .a).addresses.count, 1)
        let tooLong = try built(chain(hops: DNSResponse.maxAliasHops + 1)).addresses(for: "n0.test", type: .a)
        XCTAssertTrue(tooLong.addresses.isEmpty)
        XCTAssertEqual(tooLong.ttl, 0)
        var loop = DNSResponseBuilder(id: 1, questionName: "a.test", questionType: .a)
        loop.answers = [
            DNSRecord(name: "a.test", ttl: 5, data: .cname("b.test")),
            DNSRecord(name: "b.test", ttl: 5, data: .cname("a.test")),
            DNSRecord(name: "b.test", ttl: 5, data: .ipv4(10, 0, 0, 1)),
        ]
        XCTAssertTrue(try built(loop).addresses(for: "a.test", type: .a).addresses.isEmpty)
    }

    /// SRV answers with their targets' addresses in the additional section; a "." target is left out.
    func testSRVWithAdditionalAddresses() throws {
        var builder = DNSResponseBuilder(id: 3, questionName: "_http._tcp.svc.test", questionType: .srv)
        builder.answers = [
            DNSRecord(name: "_http._tcp.svc.test", ttl: 40, data: .srv(priority: 10, weight: 5, port: 8080, target: "a.svc.test")),
            DNSRecord(name: "_http._tcp.svc.test", ttl: 30, data: .srv(priority: 20, weight: 1, port: 8081, target: "B.svc.test.")),
            DNSRecord(name: "_http._tcp.svc.test", ttl: 50, data: .srv(priority: 0, weight: 0, port: 0, target: ".")),
        ]
        builder.authorities = [DNSRecord(name: "svc.test", type: 2, ttl: 3600, data: .other)]
        builder.additionals = [
            DNSRecord(name: "a.svc.test", ttl: 15, data: .ipv4(10, 1, 0, 1)),
            DNSRecord(name: "b.svc.test", ttl: 25, data: .ipv6([0xFE, 0x80] + [UInt8](repeating: 0, count: 13) + [2])),
            DNSRecord(name: "", type: 41, recordClass: 1232, ttl: 0, data: .other),
        ]
        let response = try built(builder)
        let services = response.services(for: "_http._tcp.svc.test.")
        XCTAssertEqual(services.records.map { "\($0.priority) \($0.weight) \($0.port) \($0.target)" },
                       ["10 5 8080 a.svc.test", "20 1 8081 b.svc.test"])
        XCTAssertEqual(services.ttl, 30)
        XCTAssertEqual(response.additionals.count, 3)
        XCTAssertEqual(response.additionalAddresses(for: "a.svc.test", type: .a).addresses.map(\.text), ["10.1.0.1"])
        XCTAssertEqual(response.additionalAddresses(for: "b.svc.test", type: .aaaa).addresses.map(\.text), ["fe80::2"])
        XCTAssertEqual(response.additionalAddresses(for: "b.svc.test", type: .aaaa).ttl, 25)
        XCTAssertTrue(response.additionalAddresses(for: "b.svc.test", type: .a).addresses.isEmpty)
        XCTAssertTrue(response.services(for: "_other._tcp.svc.test").records.isEmpty)
    }

    /// Compression changes the bytes, not what they say; and the builder does compress.
    func testCompressionRoundTrip() throws {
        var builder = DNSResponseBuilder(id: 11, questionName: "_http._tcp.svc.test", questionType: .srv)
        builder.answers = (1...3).map {
            DNSRecord(name: "_http._tcp.svc.test", ttl: 60, data: .srv(priority: 1, weight: 1, port: 80, target: "host\($0).svc.test"))
        }
        builder.additionals = (1...3).map { DNSRecord(name: "host\($0).svc.test", ttl: 60, data: .ipv4(10, 0, 0, UInt8($0))) }
        let compressed = try XCTUnwrap(builder.encode())
        builder.compressesNames = false
        let plain = try XCTUnwrap(builder.encode())
        XCTAssertLessThan(compressed.count, plain.count - 100)
        XCTAssertEqual(try parsed(compressed), try parsed(plain))
        XCTAssertTrue(compressed.contains(0xC0))
        XCTAssertFalse(plain.contains(0xC0))
    }

    /// Header flags and codes read back; nginx's texts for the codes.
    func testFlagsAndResponseCodes() throws {
        var builder = DNSResponseBuilder(id: 0xFFFF, questionName: "gone.test", questionType: .a)
        builder.rcode = DNSResponse.ResponseCode.nameError
        builder.isTruncated = true
        let response = try built(builder)
        XCTAssertEqual(response.id, 0xFFFF)
        XCTAssertEqual(response.rcode, 3)
        XCTAssertTrue(response.isTruncated)
        XCTAssertTrue(response.isAuthoritative)
        XCTAssertTrue(response.answers.isEmpty)
        XCTAssertEqual(DNSResponse.errorText(rcode: response.rcode), "Host not found")
        XCTAssertEqual(DNSResponse.errorText(rcode: 2), "Server failure")
        XCTAssertEqual(DNSResponse.errorText(rcode: 5), "Operation refused")
        XCTAssertEqual(DNSResponse.errorText(rcode: 9), "Unknown error")
        XCTAssertFalse(response.matches(id: 0xFFFE, name: "gone.test", type: .a))
        XCTAssertFalse(response.matches(id: 0xFFFF, name: "gone.test", type: .aaaa))
        XCTAssertFalse(response.matches(id: 0xFFFF, name: "other.test", type: .a))
        XCTAssertTrue(response.matches(id: 0xFFFF, name: "Gone.Test.", type: .a))
    }

    /// A TTL with the top bit set counts as 0 (RFC 2181 §8); class other than IN is not interpreted.
    func testTTLTopBitAndOtherClasses() throws {
        var builder = DNSResponseBuilder(id: 1, questionName: "t.test", questionType: .a)
        builder.answers = [
            DNSRecord(name: "t.test", ttl: 0x8000_0000, data: .ipv4(10, 0, 0, 1)),
            DNSRecord(name: "t.test", type: 1, recordClass: 3, ttl: 9, data: .ipv4(10, 0, 0, 2)),
        ]
        let response = try built(builder)
        XCTAssertEqual(response.answers[0].ttl, 0)
        XCTAssertEqual(response.answers[1].data, .other)
        XCTAssertEqual(response.addresses(for: "t.test", type: .a).addresses.map(\.text), ["10.0.0.1"])
    }

    // MARK: Refusals

    /// An answer whose RDLENGTH does not fit its type refuses the response; in the additional section it is
    /// skipped and the rest kept.
    func testWrongRecordLength() throws {
        var builder = DNSResponseBuilder(id: 1, questionName: "x.test", questionType: .aaaa)
        builder.answers = [DNSRecord(name: "x.test", ttl: 1, data: .ipv6([1, 2, 3, 4, 5]))]
        let bytes = try XCTUnwrap(builder.encode())
        XCTAssertEqual(parseError(bytes), .badRecordLength(type: 28, length: 5, at: bytes.count - 5))
        builder.answers = [DNSRecord(name: "x.test", ttl: 1, data: .ipv4(1, 2, 3, 4))]
        builder.answers[0].type = 28
        let short = try XCTUnwrap(builder.encode())
        XCTAssertEqual(parseError(short), .badRecordLength(type: 28, length: 4, at: short.count - 4))
        builder.answers = []
        builder.additionals = [
            DNSRecord(name: "y.test", type: 1, ttl: 1, data: .ipv6([UInt8](repeating: 1, count: 16))),
            DNSRecord(name: "y.test", ttl: 1, data: .ipv4(10, 0, 0, 3)),
        ]
        XCTAssertEqual(try built(builder).additionals.map(\.data), [.ipv4(10, 0, 0, 3)])
    }

    /// Exactly one question, as nginx insists.
    func testQuestionCount() {
        var bytes = hex(Self.compressedResponse)
        bytes[5] = 0
        XCTAssertEqual(parseError(bytes), .questionCount(0))
        bytes[5] = 2
        XCTAssertEqual(parseError(bytes), .questionCount(2))
    }

    /// Pointers that do not jump below the name's bytes already read: self, forward, looping through a label.
    func testBadPointers() {
        let header = hex("0001 8180 0001 0000 0000 0000")
        XCTAssertEqual(parseError(header + [0xC0, 12, 0, 1, 0, 1]), .badPointer(at: 12, target: 12))
        XCTAssertEqual(parseError(header + [0xC0, 14, 0, 0, 1, 0, 1]), .badPointer(at: 12, target: 14))
        XCTAssertEqual(parseError(header + [0xC0, 0xFF, 0, 1, 0, 1]), .badPointer(at: 12, target: 255))
        XCTAssertEqual(parseError(header + [1, 0x61, 0xC0, 12, 0, 1, 0, 1]), .badPointer(at: 14, target: 12))
        XCTAssertEqual(parseError(header + [1, 0x61, 0xC0]), .truncated(at: 15))
        // Through the answer's owner back to its own label, after a valid jump to the question.
        var answer = hex(Self.compressedResponse)
        answer[33] = 0xC0
        answer[34] = 33
        XCTAssertEqual(parseError(answer), .badPointer(at: 33, target: 33))
    }

    /// Reserved label types, names over 255 bytes (also when made long by a pointer), and the error texts.
    func testBadLabelsAndLongNames() {
        let header = hex("0001 8180 0001 0000 0000 0000")
        XCTAssertEqual(parseError(header + [0x40, 0, 0, 1, 0, 1]), .badLabelType(at: 12))
        XCTAssertEqual(parseError(header + [0x81, 0, 0, 1, 0, 1]), .badLabelType(at: 12))
        let label63 = [63] + [UInt8](repeating: 0x61, count: 63)
        let question = label63 + label63 + label63 + [0, 0, 1, 0, 1]
        let header1 = hex("0001 8180 0001 0001 0000 0000")
        let owner = label63 + [0xC0, 12]
        let record: [UInt8] = [0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 10, 0, 0, 1]
        XCTAssertEqual(parseError(header1 + question + owner + record), .nameTooLong(at: 12 + question.count))
        XCTAssertNil(parseError(header1 + question + [0xC0, 12] + record))
        XCTAssertEqual(DNSParseError.truncated(at: 5).description, "DNS message truncated at byte 5")
        XCTAssertEqual(DNSParseError.badRecordLength(type: 1, length: 5, at: 40).description,
                       "invalid length 5 of type 1 record data at byte 40")
    }

    // MARK: Address text

    /// RFC 5952 forms, and `inet_pton` reads each back to the same bytes.
    func testIPv6Text() {
        func bytes(_ groups: [UInt16]) -> [UInt8] { groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } }
        let cases: [([UInt16], String)] = [
            ([0, 0, 0, 0, 0, 0, 0, 0], "::"),
            ([0, 0, 0, 0, 0, 0, 0, 1], "::1"),
            ([1, 0, 0, 0, 0, 0, 0, 0], "1::"),
            ([0x2001, 0xDB8, 0, 0, 0, 0, 0, 1], "2001:db8::1"),
            ([0x2001, 0xDB8, 0, 1, 1, 1, 1, 1], "2001:db8:0:1:1:1:1:1"),
            ([0x2001, 0, 0, 1, 0, 0, 0, 1], "2001:0:0:1::1"),
            ([0x2001, 0xDB8, 0, 0, 1, 0, 0, 1], "2001:db8::1:0:0:1"),
            ([0, 0, 0, 0, 0, 0xFFFF, 0xC000, 0x0201], "::ffff:192.0.2.1"),
            ([0xFE80, 0, 0, 0, 0x0202, 0xB3FF, 0xFE1E, 0x8329], "fe80::202:b3ff:fe1e:8329"),
        ]
        for (groups, text) in cases {
            let address = DNSAddress.ipv6(bytes(groups))
            XCTAssertEqual(address.text, text)
            var parsed = [UInt8](repeating: 0xAA, count: 16)
            XCTAssertEqual(inet_pton(AF_INET6, address.text, &parsed), 1, text)
            XCTAssertEqual(parsed, bytes(groups), text)
        }
        XCTAssertEqual(DNSAddress.ipv4(10, 0, 0, 1).text, "10.0.0.1")
        XCTAssertEqual(DNSAddress.ipv6([1]).text, "100::")
    }
}
