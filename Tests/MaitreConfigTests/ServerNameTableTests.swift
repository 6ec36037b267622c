import XCTest
@testable import MaitreConfig

final class ServerNameTableTests: ConfigTestCase {
    private func table(_ servers: String, endpoint: ListenEndpoint = ListenEndpoint(host: "0.0.0.0", port: 80)) throws -> ServerNameTable {
        let http = try XCTUnwrap(loadHTTP(servers))
        let onEndpoint = http.servers.filter { $0.listens.contains { $0.endpoint == endpoint } }
        return ServerNameTable(endpoint: endpoint, servers: onEndpoint)
    }

    /// Servers are told apart by their `return` status.
    private func status(_ server: VirtualServer) -> Int? { server.returnAction?.status }

    func testSelectionOrder() throws {
        let names = try table("""
            server { return 200; }
            server { server_name example.com www.example.com; return 201; }
            server { server_name *.example.com; return 202; }
            server { server_name *.api.example.com; return 203; }
            server { server_name www.example.*; return 204; }
            server { server_name .example.org; return 205; }
            server { server_name mail.*; return 206; }
            server { server_name mail.example.*; return 207; }
            server { server_name ""; return 208; }
            """)
        XCTAssertEqual(status(names.select(host: "example.com")), 201)
        XCTAssertEqual(status(names.select(host: "WWW.Example.COM")), 201, "exact beats wildcards, any case")
        XCTAssertEqual(status(names.select(host: "www.example.com:8080")), 201)
        XCTAssertEqual(status(names.select(host: "example.com.")), 201, "a trailing dot is dropped")
        XCTAssertEqual(status(names.select(host: "a.example.com")), 202)
        XCTAssertEqual(status(names.select(host: "a.b.example.com")), 202, "leading wildcards span labels")
        XCTAssertEqual(status(names.select(host: "v1.api.example.com")), 203, "the longest leading wildcard wins")
        XCTAssertEqual(status(names.select(host: "www.example.net")), 204)
        XCTAssertEqual(status(names.select(host: "example.org")), 205, ".example.org also matches the bare domain")
        XCTAssertEqual(status(names.select(host: "x.example.org")), 205)
        XCTAssertEqual(status(names.select(host: "mail.example.net")), 207, "the longest trailing wildcard wins")
        XCTAssertEqual(status(names.select(host: "mail.test")), 206)
        XCTAssertEqual(status(names.select(host: "unknown.test")), 200, "no match: the first server is the default")
        XCTAssertEqual(status(names.select(host: nil)), 200, "the first server also has the implicit empty name")
        XCTAssertEqual(status(names.select(host: "")), 200)
        XCTAssertEqual(status(names.defaultServer), 200)
    }

    func testDefaultServerAndEmptyName() throws {
        let names = try table("""
            server { listen 80; server_name a.test; return 200; }
            server { listen 80; server_name ""; return 201; }
            server { listen 80 default_server; server_name b.test; return 202; }
            """)
        XCTAssertEqual(status(names.select(host: "zzz")), 202)
        XCTAssertEqual(status(names.select(host: nil)), 201, "a request without Host matches server_name \"\"")
        XCTAssertEqual(status(names.select(host: "[::1]:80")), 202)
    }

    func testFirstServerKeepsAConflictingName() throws {
        let names = try table("""
            server { server_name a.test; return 200; }
            server { server_name a.test .b.test; return 201; }
            server { server_name b.test; return 202; }
            """)
        XCTAssertEqual(status(names.select(host: "a.test")), 200)
        XCTAssertEqual(status(names.select(host: "b.test")), 201)
    }

    func testPerEndpoint() throws {
        let names = try table("""
            server { listen 8080; server_name a.test; return 200; }
            server { listen 80; server_name a.test; return 201; }
            server { listen 8080; server_name b.test; return 202; }
            """, endpoint: ListenEndpoint(host: "0.0.0.0", port: 8080))
        XCTAssertEqual(status(names.select(host: "a.test")), 200)
        XCTAssertEqual(status(names.select(host: "b.test")), 202)
        XCTAssertEqual(status(names.select(host: "c.test")), 200)
    }

    func testHostNormalisation() {
        XCTAssertEqual(ServerNameTable.normalize("Example.COM:443"), "example.com")
        XCTAssertEqual(ServerNameTable.normalize("example.com."), "example.com")
        XCTAssertEqual(ServerNameTable.normalize("[::1]:8080"), "[::1]")
        XCTAssertEqual(ServerNameTable.normalize(""), "")
    }
}
