import Foundation
import MaitreProxy
import MaitreWire
import XCTest

/// `server NAME resolve` and `service=` on real sockets, against a DNS server of the test's own on loopback whose
/// answers the test changes: traffic follows the answers without a reload, a name that does not resolve yet does
/// not stop the start, a failed lookup keeps the last good addresses, SRV ports, weights and priorities count.
final class ResolveIntegrationTests: ProxyTestCase {
    private var dns: TestDNSServer!

    override func setUp() {
        super.setUp()
        dns = try? TestDNSServer(group: group)
    }

    override func tearDown() {
        harness?.stop()
        harness = nil
        dns?.stop()
        super.tearDown()
    }

    private func start(upstream: String, resolverExtra: String = "valid=1s") throws {
        harness = try ProxyHarness(try config(upstream: upstream, resolverExtra: resolverExtra))
    }

    private func config(upstream: String, resolverExtra: String = "valid=1s") throws -> String {
        let dnsPort = try XCTUnwrap(dns).port
        return """
            http {
                resolver 127.0.0.1:\(dnsPort) \(resolverExtra);
                resolver_timeout 500ms;
                upstream app { zone app 64k; \(upstream) }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://app; }
                }
            }
            """
    }

    /// The backend that answered a GET, or the status when none did.
    private func whoAnswers() -> String {
        guard let response = try? harness?.get("/") else { return "no response" }
        return response.header("X-Backend") ?? "status \(response.status)"
    }

    private func a(_ name: String, _ octets: (UInt8, UInt8, UInt8, UInt8), ttl: UInt32 = 1) -> DNSRecord {
        DNSRecord(name: name, ttl: ttl, data: .ipv4(octets.0, octets.1, octets.2, octets.3))
    }

    func testTrafficFollowsAChangedAnswerWithoutAReload() throws {
        let first = try TestBackend(name: "first", group: group)
        let second = try TestBackend(name: "second", group: group, host: "127.0.0.2", port: first.port)
        backends = [first, second]
        dns.set("app.test", [a("app.test", (127, 0, 0, 1))])
        try start(upstream: "server app.test:\(first.port) resolve;")
        XCTAssertTrue(eventually(5) { whoAnswers() == "first" }, "the first answer is served")

        // A request in flight on the first address when it goes away still completes.
        let port = try XCTUnwrap(harness).port
        let slow = NIOLockedBox(0)
        let slowDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            slow.set((try? TestHTTPClient(port: port).request("GET", "/slow/1500").status) ?? -1)
            slowDone.signal()
        }
        XCTAssertTrue(eventually(5) { first.requests >= 1 + 1 })
        dns.set("app.test", [a("app.test", (127, 0, 0, 2))])
        XCTAssertTrue(eventually(8) { whoAnswers() == "second" }, "the new address takes the traffic")
        XCTAssertEqual(slowDone.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(slow.get(), 200, "the request on the removed address finished")
        for _ in 0..<10 { XCTAssertEqual(whoAnswers(), "second", "the old address gets nothing once it is gone") }
        let peers = try waitBounded(XCTUnwrap(harness).server.registry.peers())
        XCTAssertEqual(peers.map(\.identity.address), ["127.0.0.2:\(first.port)"])
    }

    func testANameThatDoesNotResolveYetDoesNotStopTheStart() throws {
        let backend = try TestBackend(name: "late", group: group)
        backends = [backend]
        try start(upstream: "server late.test:\(backend.port) resolve;")
        XCTAssertEqual(whoAnswers(), "status 502", "no address yet: no live upstream")
        dns.set("late.test", [a("late.test", (127, 0, 0, 1))])
        XCTAssertTrue(eventually(8) { whoAnswers() == "late" }, "served once the name resolves")
    }

    /// A reload that keeps the `resolve` line keeps its answers: no window without peers, even while the name
    /// server is silent.
    func testAReloadKeepsTheAnswers() throws {
        let backend = try TestBackend(name: "answered", group: group)
        backends = [backend]
        dns.set("r.test", [a("r.test", (127, 0, 0, 1), ttl: 30)])
        let text = try config(upstream: "server r.test:\(backend.port) resolve;", resolverExtra: "")
        harness = try ProxyHarness(text)
        XCTAssertTrue(eventually(5) { whoAnswers() == "answered" })
        dns.setSilent(true)
        try XCTUnwrap(harness).reload(text + "\n# reloaded\n")
        XCTAssertEqual(whoAnswers(), "answered", "served at once after the reload, with the answer it had")
    }

    func testAFailedLookupKeepsTheLastGoodAddresses() throws {
        let backend = try TestBackend(name: "kept", group: group)
        backends = [backend]
        dns.set("kept.test", [a("kept.test", (127, 0, 0, 1))])
        try start(upstream: "server kept.test:\(backend.port) resolve;")
        XCTAssertTrue(eventually(5) { whoAnswers() == "kept" })
        dns.setSilent(true)
        let asked = dns.questions
        XCTAssertTrue(eventually(8) { dns.questions >= asked + 4 }, "lookups go on and time out")
        XCTAssertEqual(whoAnswers(), "kept", "timeouts keep the address")
        dns.setSilent(false)
        dns.setFailure(DNSResponse.ResponseCode.serverFailure)
        let failing = dns.questions
        XCTAssertTrue(eventually(8) { dns.questions >= failing + 4 })
        XCTAssertEqual(whoAnswers(), "kept", "SERVFAIL keeps the address")
    }

    /// A name server whose answers are hostile (flipped, cut, looping compression pointers, huge counts): the
    /// proxy parses hundreds of them through its real resolver path, stays up, and keeps the last good address.
    func testHostileAnswersAreSurvivedAndIgnored() throws {
        let backend = try TestBackend(name: "steady", group: group)
        backends = [backend]
        dns.set("steady.test", [a("steady.test", (127, 0, 0, 1))])
        try start(upstream: "server steady.test:\(backend.port) resolve;")
        XCTAssertTrue(eventually(5) { whoAnswers() == "steady" })
        dns.setMutations(60)
        XCTAssertTrue(eventually(10) { dns.mutationCases >= 300 }, "hostile answers went out")
        // A flipped address byte makes a well-formed answer naming another address: the proxy may follow it.
        // What it must do is stay up and come back to the good address with the good answers.
        XCTAssertNotEqual(whoAnswers(), "no response", "the proxy is up")
        dns.setMutations(0)
        XCTAssertTrue(eventually(8) { whoAnswers() == "steady" })
    }

    func testSRVPortsWeightsAndPriorities() throws {
        let heavy = try TestBackend(name: "heavy", group: group)
        let light = try TestBackend(name: "light", group: group)
        let spare = try TestBackend(name: "spare", group: group)
        backends = [heavy, light, spare]
        dns.set("_http._tcp.svc.test", [
            DNSRecord(name: "_http._tcp.svc.test", ttl: 30,
                      data: .srv(priority: 10, weight: 3, port: UInt16(heavy.port), target: "one.svc.test")),
            DNSRecord(name: "_http._tcp.svc.test", ttl: 30,
                      data: .srv(priority: 10, weight: 1, port: UInt16(light.port), target: "two.svc.test")),
            DNSRecord(name: "_http._tcp.svc.test", ttl: 30,
                      data: .srv(priority: 20, weight: 1, port: UInt16(spare.port), target: "three.svc.test")),
        ])
        for name in ["one.svc.test", "two.svc.test", "three.svc.test"] {
            dns.set(name, [a(name, (127, 0, 0, 1), ttl: 30)])
        }
        try start(upstream: "server svc.test service=http resolve;")
        XCTAssertTrue(eventually(5) { whoAnswers() != "status 502" }, "the service resolves")
        var counts: [String: Int] = [:]
        for _ in 0..<40 { counts[whoAnswers(), default: 0] += 1 }
        XCTAssertEqual(counts["heavy"], 30, "SRV weight 3 of 4: \(counts)")
        XCTAssertEqual(counts["light"], 10, "SRV weight 1 of 4: \(counts)")
        XCTAssertNil(counts["spare"], "a higher priority number is a backup: \(counts)")
        let peers = try waitBounded(XCTUnwrap(harness).server.registry.peers())
        XCTAssertEqual(Set(peers.map(\.identity.address)),
                       Set([heavy.port, light.port, spare.port].map { "127.0.0.1:\($0)" }))
    }
}
