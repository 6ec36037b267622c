import XCTest
@testable import MaitreConfig

final class HostResolverTests: XCTestCase {
    func testLiteralsNeedNoLookup() throws {
        let resolver = SystemHostResolver()
        XCTAssertEqual(try resolver.resolve(host: "10.1.2.3", port: 81), [ResolvedAddress(ip: "10.1.2.3", port: 81)])
        XCTAssertEqual(try resolver.resolve(host: "0:0::1", port: 82), [ResolvedAddress(ip: "::1", port: 82)])
    }

    func testCanonicalAddresses() {
        XCTAssertEqual(IPAddress.canonical("::0"), "::")
        XCTAssertEqual(IPAddress.canonical("127.0.0.1"), "127.0.0.1")
        XCTAssertNil(IPAddress.canonical("127.1"), "only dotted quads, as ngx_inet_addr")
        XCTAssertNil(IPAddress.canonical("example.com"))
        XCTAssertEqual(ResolvedAddress(ip: "::1", port: 80).description, "[::1]:80")
    }
}
