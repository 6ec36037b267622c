import XCTest
@testable import MaitreConfig

/// `allow` / `deny`: parsing, nginx's merge (a level with rules replaces its parent's) and the first-match rule.
final class AccessRuleTests: ConfigTestCase {
    private func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> [UInt8] { [a, b, c, d] }

    func testFirstMatchingRuleDecides() throws {
        let rules = [
            AccessRule(allows: false, network: IPNetwork("192.168.1.1")),
            AccessRule(allows: true, network: IPNetwork("192.168.1.0/24")),
            AccessRule(allows: true, network: IPNetwork("2001:db8::/32")),
            AccessRule(allows: false, network: nil),
        ]
        XCTAssertFalse(AccessRule.allows(v4(192, 168, 1, 1), by: rules), "the earlier deny wins")
        XCTAssertTrue(AccessRule.allows(v4(192, 168, 1, 2), by: rules))
        XCTAssertFalse(AccessRule.allows(v4(10, 0, 0, 1), by: rules), "deny all")
        var v6 = [UInt8](repeating: 0, count: 16)
        v6[0] = 0x20; v6[1] = 0x01; v6[2] = 0x0d; v6[3] = 0xb8; v6[15] = 1
        XCTAssertTrue(AccessRule.allows(v6, by: rules))
        let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 168, 1, 7]
        XCTAssertTrue(AccessRule.allows(mapped, by: rules), "an IPv4-mapped client meets the IPv4 rules")
        XCTAssertTrue(AccessRule.allows(v4(10, 0, 0, 1), by: []), "no rules: allowed")
        XCTAssertTrue(AccessRule.allows(v4(10, 0, 0, 1), by: [AccessRule(allows: false, network: IPNetwork("127.0.0.1"))]),
                      "no rule matches: allowed")
    }

    func testNetworks() throws {
        let network = try XCTUnwrap(IPNetwork("10.1.2.3/8"))
        XCTAssertEqual(network.bytes, [10, 0, 0, 0])
        XCTAssertTrue(network.hadHostBits)
        XCTAssertTrue(network.contains([10, 200, 0, 1]))
        XCTAssertFalse(network.contains([11, 0, 0, 1]))
        XCTAssertEqual(IPNetwork("0.0.0.0/0")?.contains([1, 2, 3, 4]), true)
        XCTAssertEqual(IPNetwork("10.0.0.0/12")?.contains([10, 15, 255, 255]), true)
        XCTAssertEqual(IPNetwork("10.0.0.0/12")?.contains([10, 16, 0, 0]), false)
        XCTAssertNil(IPNetwork("10.0.0.0/33"))
        XCTAssertNil(IPNetwork("10.0.0.0/x"))
        XCTAssertNil(IPNetwork("example.com"))
    }

    func testParsingAndMerge() throws {
        let http = try XCTUnwrap(loadHTTP("""
            allow 127.0.0.1;
            deny all;
            server {
                location / { return 200; }
                location /open { allow all; }
            }
            """))
        let server = try XCTUnwrap(http.servers.first)
        XCTAssertEqual(server.settings.accessRules.count, 2, "inherited from http")
        XCTAssertEqual(server.locations[0].settings.accessRules, server.settings.accessRules)
        XCTAssertEqual(server.locations[1].settings.accessRules, [AccessRule(allows: true, network: nil)],
                       "a level with rules of its own replaces its parent's")
    }

    func testErrorsAndWarnings() throws {
        assertHTTPError("deny 10.0.0.0/40;", "invalid parameter \"10.0.0.0/40\" in @:2")
        assertHTTPError("allow example.com;", "invalid parameter \"example.com\" in @:2")
        assertHTTPError("allow unix:;", "parameter \"unix:\" is not supported in @:2")
        assertHTTPError("deny;", "invalid number of arguments in \"deny\" directive in @:2")
        let configuration = try XCTUnwrap(load("http {\nallow 10.1.0.0/8;\n}\n"))
        XCTAssertEqual(configuration.warnings.map(\.message), ["low address bits of 10.1.0.0/8 are meaningless"])
    }
}
