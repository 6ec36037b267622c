import MaitreBalancing
import XCTest

@testable import MaitreWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every byte of a DNS response is hostile: random and mutated responses never trap the parser or the lookups on
/// what it returns, work stays bounded (pointer loops, counts of 0xFFFF), and what it returns is well formed.
/// Deterministic (fixed seeds), bounded in count.
final class DNSFuzzTests: XCTestCase {

    /// Valid responses covering each record type, both compressions, CNAME chains and all four sections.
    private static let seeds: [[UInt8]] = {
        var chain = DNSResponseBuilder(id: 0x0A0A, questionName: "www.shop.test", questionType: .a)
        chain.answers = [
            DNSRecord(name: "www.shop.test", ttl: 300, data: .cname("edge.cdn.test")),
            DNSRecord(name: "edge.cdn.test", ttl: 60, data: .ipv4(10, 0, 0, 1)),
            DNSRecord(name: "edge.cdn.test", ttl: 90, data: .ipv4(10, 0, 0, 2)),
        ]
        var v6 = DNSResponseBuilder(id: 0x0B0B, questionName: "v6.test", questionType: .aaaa)
        v6.compressesNames = false
        v6.answers = [DNSRecord(name: "v6.test", ttl: 30, data: .ipv6([0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1]))]
        var srv = DNSResponseBuilder(id: 0x0C0C, questionName: "_http._tcp.svc.test", questionType: .srv)
        srv.answers = [
            DNSRecord(name: "_http._tcp.svc.test", ttl: 40, data: .srv(priority: 10, weight: 5, port: 8080, target: "a.svc.test")),
            DNSRecord(name: "_http._tcp.svc.test", ttl: 30, data: .srv(priority: 20, weight: 1, port: 8081, target: "b.svc.test")),
        ]
        srv.authorities = [DNSRecord(name: "svc.test", type: 2, ttl: 3600, data: .other)]
        srv.additionals = [
            DNSRecord(name: "a.svc.test", ttl: 15, data: .ipv4(10, 1, 0, 1)),
            DNSRecord(name: "b.svc.test", ttl: 25, data: .ipv6([0xFE, 0x80] + [UInt8](repeating: 0, count: 13) + [2])),
        ]
        var missing = DNSResponseBuilder(id: 0x0D0D, questionName: "gone.test", questionType: .a)
        missing.rcode = DNSResponse.ResponseCode.nameError
        missing.authorities = [DNSRecord(name: "test", type: 6, ttl: 900, data: .other)]
        return [chain, v6, srv, missing].map { $0.encode()! }
    }()

    /// What the seeds say (a seed that does not parse is a bug in the builder or the parser: stop here).
    private static let expected: [DNSResponse] = seeds.map { try! DNSResponse.parse($0).get() }

    /// Names `check` has seen well formed: most inputs repeat the seeds' names, and checking one costs more than a parse.
    private var verifiedNames: Set<String> = []

    /// Parses one input and checks what came out; returns whether it parsed. (Faults are collected and asserted
    /// once: an XCTAssert per name would cost more than the parse, in a debug build.)
    @discardableResult
    private func check(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> Bool {
        guard case .success(let response) = DNSResponse.parse(bytes) else { return false }
        var faults: [String] = []
        if response.answers.count > Int(bytes.uint16(at: 6)) { faults.append("more answers than announced") }
        if response.additionals.count > Int(bytes.uint16(at: 10)) { faults.append("more additionals than announced") }
        var names = [response.questionName]
        for record in response.answers + response.additionals {
            names.append(record.name)
            switch record.data {
            case .ipv6(let address) where address.count != 16: faults.append("AAAA of \(address.count) bytes")
            case .cname(let target): names.append(target)
            case .srv(_, _, _, let target): names.append(target)
            default: break
            }
        }
        for name in names where !name.isEmpty && !verifiedNames.contains(name) {
            // Printable ASCII, and the presentation form encodes back to the same name: it was normalized.
            verifiedNames.insert(name)
            let printable = name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
            let again = DNSQuery.encode(id: 0, name: name, type: .a).flatMap(DNSQuery.parse)?.name
            if !printable || again != name { faults.append("name \(name) came back as \(again ?? "nil")") }
        }
        var addresses = response.addresses(for: response.questionName, type: .a).addresses
            + response.addresses(for: response.questionName, type: .aaaa).addresses
        for service in response.services(for: response.questionName).records {
            addresses += response.additionalAddresses(for: service.target, type: .a).addresses
            addresses += response.additionalAddresses(for: service.target, type: .aaaa).addresses
        }
        for address in addresses {
            var buffer = [UInt8](repeating: 0, count: 16)
            let family = if case .ipv4 = address { AF_INET } else { AF_INET6 }
            if inet_pton(family, address.text, &buffer) != 1 { faults.append("address text \(address.text)") }
        }
        if !faults.isEmpty { XCTFail("\(faults) for \(bytes)", file: file, line: line) }
        return true
    }

    /// The seeds still parse to what they said before the fuzzing: the parser keeps no state.
    private func assertSeedsStillParse(file: StaticString = #filePath, line: UInt = #line) {
        for (seed, expected) in zip(Self.seeds, Self.expected) {
            XCTAssertEqual(try DNSResponse.parse(seed).get(), expected, file: file, line: line)
        }
    }

    /// 10,000 mutations of valid responses: bit flips, random bytes, inserts, deletes, counts set to 0 or 0xFFFF,
    /// and compression pointers written anywhere, to anywhere.
    func testMutatedResponses() {
        var rng = SplitMix64(seed: 0xD45_F022)
        var parsed = 0
        var refused = 0
        for round in 0..<10_000 {
            var bytes = Self.seeds[round % Self.seeds.count]
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let position = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                case 1: bytes[position] = UInt8.random(in: 0...255, using: &rng)
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: position)
                case 3: if bytes.count > 12 { bytes.remove(at: position) }
                case 4:
                    let field = 4 + 2 * Int.random(in: 0..<4, using: &rng)
                    let value: UInt8 = Bool.random(using: &rng) ? 0xFF : 0
                    bytes[field] = value
                    bytes[field + 1] = value
                default:
                    guard position + 1 < bytes.count else { continue }
                    let target = Int.random(in: 0..<(bytes.count + 8), using: &rng)
                    bytes[position] = 0xC0 | UInt8(truncatingIfNeeded: target >> 8)
                    bytes[position + 1] = UInt8(truncatingIfNeeded: target)
                }
            }
            if check(bytes) { parsed += 1 } else { refused += 1 }
        }
        // The mutations reach both the accepting and the refusing paths.
        XCTAssertGreaterThan(parsed, 1_000)
        XCTAssertGreaterThan(refused, 1_000)
        assertSeedsStillParse()
    }

    /// Every prefix of every seed: a cut answer section is an error; a cut in the authority or additional section
    /// keeps the answers and a prefix of the additionals.
    func testTruncationAtEveryLength() {
        for (seed, expected) in zip(Self.seeds, Self.expected) {
            for length in 0..<seed.count {
                switch DNSResponse.parse(Array(seed.prefix(length))) {
                case .success(let response):
                    XCTAssertEqual(response.answers, expected.answers, "prefix \(length)")
                    XCTAssertEqual(Array(expected.additionals.prefix(response.additionals.count)), response.additionals)
                    XCTAssertLessThan(response.additionals.count, max(1, expected.additionals.count), "prefix \(length)")
                case .failure(let error):
                    if case .truncated = error { continue }
                    XCTFail("prefix \(length) gave \(error), not truncated")
                }
            }
        }
        // A response without authority or additional records fails at every cut.
        let plain = Self.seeds[0]
        XCTAssertTrue((0..<plain.count).allSatisfy { !check(Array(plain.prefix($0))) })
    }

    /// Counts of 0xFFFF in 512 bytes: the question count is refused, an answer count runs out of bytes (an
    /// error), the optional sections end where the bytes do (answers kept). Zero counts drop sections.
    func testHugeAndZeroCounts() throws {
        for (seed, expected) in zip(Self.seeds, Self.expected) {
            var bytes = seed
            bytes[4] = 0xFF
            bytes[5] = 0xFF
            XCTAssertEqual(DNSResponse.parse(bytes), .failure(.questionCount(0xFFFF)))
            bytes = seed
            bytes[6] = 0xFF
            bytes[7] = 0xFF
            guard case .failure(.truncated) = DNSResponse.parse(bytes) else { return XCTFail("answer count 0xFFFF parsed") }
            for field in [8, 10] {
                bytes = seed
                bytes[field] = 0xFF
                bytes[field + 1] = 0xFF
                XCTAssertEqual(try DNSResponse.parse(bytes).get().answers, expected.answers)
            }
            bytes = seed
            bytes[6...11] = [0, 0, 0, 0, 0, 0]
            let empty = try DNSResponse.parse(bytes).get()
            XCTAssertEqual(empty.answers, [])
            XCTAssertEqual(empty.additionals, [])
            XCTAssertEqual(empty.questionName, expected.questionName)
        }
    }

    /// A compression pointer at every offset of the SRV seed, to the header and question (where real pointers
    /// go), to itself and its neighbours, and across the rest of the message and past its end: no trap, and a
    /// pointer that replaces the question name and does not jump below it is an error.
    func testPointersEverywhere() {
        let seed = Self.seeds[2]
        var parsed = 0
        for position in 12..<(seed.count - 1) {
            let targets = [0, 6, 11] + Array(12..<40) + Array(stride(from: 40, to: seed.count + 4, by: 9))
                + [position - 1, position, position + 1]
            for target in targets {
                var bytes = seed
                bytes[position] = 0xC0 | UInt8(truncatingIfNeeded: target >> 8)
                bytes[position + 1] = UInt8(truncatingIfNeeded: target)
                if check(bytes) { parsed += 1 }
                if position == 12 && target >= 12 {
                    XCTAssertEqual(DNSResponse.parse(bytes), .failure(.badPointer(at: 12, target: target)))
                }
            }
        }
        XCTAssertGreaterThan(parsed, 100)
        assertSeedsStillParse()
    }

    /// Loops and chains: a self-pointer and a two-step loop are errors; a long backwards chain of pointers is cut
    /// at 127 jumps; a chain within the limit decodes.
    func testPointerLoopsAndChains() throws {
        let header: [UInt8] = [0, 1, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]
        let question: [UInt8] = [1, 0x61, 0, 0, 1, 0, 1]  // "a" A IN, at 12
        /// An unknown-type record at 19 whose data is `links` pointers, each to the one before (the first to the
        /// question), then a CNAME record whose owner points at the last link.
        func chain(_ links: Int) -> [UInt8] {
            var data: [UInt8] = []
            let dataStart = 19 + 1 + 10
            for link in 0..<links {
                let target = link == 0 ? 12 : dataStart + 2 * (link - 1)
                data += [0xC0 | UInt8(target >> 8), UInt8(target & 0xFF)]
            }
            let filler: [UInt8] = [0, 0, 99, 0, 1, 0, 0, 0, 1, UInt8(data.count >> 8), UInt8(data.count & 0xFF)] + data
            let last = dataStart + 2 * (links - 1)
            let alias: [UInt8] = [0xC0 | UInt8(last >> 8), UInt8(last & 0xFF), 0, 5, 0, 1, 0, 0, 0, 1, 0, 3, 1, 0x62, 0]
            return header + question + filler + alias
        }
        let ok = try DNSResponse.parse(chain(100)).get()
        XCTAssertEqual(ok.answers.last, DNSRecord(name: "a", ttl: 1, data: .cname("b")))
        let tooLong = chain(200)
        XCTAssertEqual(DNSResponse.parse(tooLong), .failure(.tooManyPointers(at: tooLong.count - 15)))

        XCTAssertEqual(DNSResponse.parse(header + [0xC0, 12, 0, 1, 0, 1]), .failure(.badPointer(at: 12, target: 12)))
        // "x" then a pointer back to the "x": the names read would repeat forever.
        var loop = header + question + [1, 0x78, 0xC0, 19]
        loop[7] = 1
        XCTAssertEqual(DNSResponse.parse(loop), .failure(.badPointer(at: 21, target: 19)))
        assertSeedsStillParse()
    }

    /// 6,000 random messages, half behind a plausible header, the bytes biased to what names are made of.
    func testRandomBytes() {
        var rng = SplitMix64(seed: 0x5EED_D115)
        let interesting: [UInt8] = [0, 1, 2, 3, 4, 16, 28, 33, 63, 64, 0x3F, 0x61, 0x80, 0xC0, 0xC0, 0xFF]
        var parsed = 0
        for round in 0..<6_000 {
            var bytes: [UInt8] = round % 2 == 0 ? [0x12, 0x34, 0x81, 0x80, 0, 1, 0, UInt8.random(in: 0...4, using: &rng), 0, 0, 0, 1] : []
            for _ in 0..<Int.random(in: 0...200, using: &rng) {
                bytes.append(Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng))
            }
            if check(bytes) { parsed += 1 }
        }
        XCTAssertGreaterThan(parsed, 10)
        assertSeedsStillParse()
    }

    /// 3,000 random names (odd bytes and escapes included) through query encode and parse: the name comes back
    /// normalized, and the normalized form is stable.
    func testQueryNameRoundTrip() throws {
        var rng = SplitMix64(seed: 0x9A3E)
        let characters = Array("abcXYZ09-_.\\ \u{7F}é").map(String.init) + ["\\046", "\\255", "\\\\", "\\."]
        var encoded = 0
        for _ in 0..<3_000 {
            let name = (0..<Int.random(in: 1...30, using: &rng)).map { _ in characters.randomElement(using: &rng)! }.joined()
            guard let query = DNSQuery.encode(id: 7, name: name, type: .srv) else { continue }
            encoded += 1
            let question = try XCTUnwrap(DNSQuery.parse(query), name)
            XCTAssertEqual(question.name, DNSQuery.normalized(name), name)
            XCTAssertEqual(DNSQuery.normalized(question.name), question.name, name)
            XCTAssertEqual(question.type, 33)
        }
        XCTAssertGreaterThan(encoded, 500)
    }

    /// 2,000 random IPv6 addresses, runs of zeros likely: `inet_pton` reads the text back to the same bytes.
    func testIPv6TextRoundTrip() {
        var rng = SplitMix64(seed: 0x1F6)
        for _ in 0..<2_000 {
            let bytes = (0..<8).flatMap { _ -> [UInt8] in
                Bool.random(using: &rng) ? [0, 0] : [UInt8.random(in: 0...255, using: &rng), UInt8.random(in: 0...255, using: &rng)]
            }
            let text = DNSAddress.ipv6(bytes).text
            var parsed = [UInt8](repeating: 0xAA, count: 16)
            XCTAssertEqual(inet_pton(AF_INET6, text, &parsed), 1, text)
            XCTAssertEqual(parsed, bytes, text)
            XCTAssertFalse(text.contains(":::"), text)
        }
    }
}
