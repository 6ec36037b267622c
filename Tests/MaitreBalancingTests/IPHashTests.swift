@testable import MaitreBalancing
import XCTest

/// ip_hash: ngx_http_upstream_get_ip_hash_peer.
///
/// Expected indices were computed from the C code with a throwaway python3 script: per probe
/// `for byte in key: hash = (hash * 113 + byte) % 6271` starting from hash = 89, then `w = hash % total_weight` walked over the
/// primaries' weights in config order. Key = first three IPv4 octets or all sixteen IPv6 bytes. For example
/// 127.0.0.x: 89 → (89*113+127)%6271 = 4, (4*113+0)%6271 = 452, (452*113+0)%6271 = 4040; 4040 % 3 = 2.
/// Probe sequences (hash → index among 3 equal servers):
///   127.0.0.x   4040→2 5510→2 4957→1 4956→0        127.0.1.x  4041→0 6078→0 922→1
///   127.0.2.x   4042→1 375→0 3158→2                192.168.1.x 154→1 5654→2 1196→2 723→0
///   ::1 5945→2  2001:db8::1 2600→2  2001:db8::2 2601→0  ::ffff:127.0.0.1 3233→2  other family (0,0,0) 295→1
/// Weights 3,2,1 (total 6): 127.0.0.x 4040%6=2 → slot 2 < 3 → #0; 127.0.1.x 4041%6=3 → 3-3=0 < 2 → #1.
final class IPHashTests: XCTestCase {
    private func threeEqual(_ extra: (Int) -> PeerDescriptor = { peer("s\($0)") }) -> UpstreamBalancer {
        UpstreamBalancer(method: .ipHash, peers: (0..<3).map(extra))
    }

    private func index(for address: String, in b: inout UpstreamBalancer) -> Int? {
        var request = b.startRequest(client: ClientAddressKey(numericAddress: address), nextUpstreamTries: 0)
        guard let id = b.select(&request, now: t0) else { return nil }
        b.release(id, &request, outcome: .success, now: t0)
        return id.index
    }

    func testHashStep() {
        XCTAssertEqual(IPHash.advance(89, over: .ipv4(127, 0, 0, 1)), 4040)
        XCTAssertEqual(IPHash.advance(4040, over: .ipv4(127, 0, 0, 1)), 5510)
        XCTAssertEqual(IPHash.advance(89, over: .other), 295)
    }

    func testThreeEqualServersVectors() {
        var b = threeEqual()
        XCTAssertEqual(index(for: "127.0.0.1", in: &b), 2)
        XCTAssertEqual(index(for: "127.0.1.1", in: &b), 0)
        XCTAssertEqual(index(for: "127.0.2.1", in: &b), 1)
        XCTAssertEqual(index(for: "192.168.1.77", in: &b), 1)
    }

    func testWeightedVectors() {
        var b = UpstreamBalancer(
            method: .ipHash, peers: [peer("a", weight: 3), peer("b", weight: 2), peer("c")]
        )
        XCTAssertEqual(index(for: "127.0.0.9", in: &b), 0)
        XCTAssertEqual(index(for: "127.0.1.9", in: &b), 1)
    }

    func testWholeSlash24MapsToOneServer() {
        var b = threeEqual()
        for last in 0...255 {
            XCTAssertEqual(index(for: "127.0.0.\(last)", in: &b), 2)
        }
    }

    func testRepeatedRequestsStick() {
        var b = threeEqual()
        XCTAssertEqual((0..<5).map { _ in index(for: "192.168.1.5", in: &b) }, [1, 1, 1, 1, 1])
    }

    func testIPv6KeysUseAllSixteenBytes() {
        var b = threeEqual()
        XCTAssertEqual(index(for: "::1", in: &b), 2)
        XCTAssertEqual(index(for: "2001:db8::1", in: &b), 2)
        XCTAssertEqual(index(for: "2001:db8::2", in: &b), 0, "unlike IPv4, the last byte matters")

        // A v4-mapped client is hashed as IPv6: same server here by chance, different hash.
        var mapped = b.startRequest(client: ClientAddressKey(numericAddress: "::ffff:127.0.0.1"), nextUpstreamTries: 0)
        XCTAssertEqual(b.select(&mapped, now: t0), PeerID(index: 2))
        XCTAssertEqual(mapped.ipHashValue, 3233)
    }

    func testOtherFamiliesHashThreeZeroBytes() {
        var b = threeEqual()
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(b.select(&request, now: t0), PeerID(index: 1))
        XCTAssertEqual(request.ipHashValue, 295)
    }

    func testRetryContinuesTheHashSequence() {
        var b = threeEqual()
        // 4040 → #2; retry: 5510 → #2 tried, 4957 → #1; retry: 4956 → #0.
        XCTAssertEqual(b.failoverOrder(client: ClientAddressKey(numericAddress: "127.0.0.1")), [2, 1, 0])
    }

    func testRetryStateIsSavedOnlyOnSuccess() {
        var b = threeEqual()
        var request = b.startRequest(client: .ipv4(127, 0, 0, 1), nextUpstreamTries: 0)
        XCTAssertEqual(request.ipHashValue, 89)
        _ = b.select(&request, now: t0)
        XCTAssertEqual(request.ipHashValue, 4040)
        _ = b.select(&request, now: t0)
        XCTAssertEqual(request.ipHashValue, 4957)
        XCTAssertEqual(request.ipHashFailedProbes, 1, "the 5510 probe hit the tried #2")
    }

    func testDownServerKeepsTheOthersMappingAndItsClientsReprobe() {
        var b = threeEqual { peer("s\($0)", down: $0 == 0) }
        XCTAssertEqual(index(for: "127.0.0.1", in: &b), 2)
        XCTAssertEqual(index(for: "127.0.2.1", in: &b), 1)
        XCTAssertEqual(index(for: "127.0.1.1", in: &b), 1, "#0 is down: 4041 → #0, 6078 → #0, 922 → #1")
        XCTAssertEqual(b.startRequest(client: .other, nextUpstreamTries: 0).triesLeft, 2)
    }

    func testFailedServerIsReprobedAroundUntilItRecovers() {
        var b = threeEqual()
        var request = b.startRequest(client: .ipv4(127, 0, 0, 1), nextUpstreamTries: 0)
        let first = b.select(&request, now: t0)!
        XCTAssertTrue(b.release(first, &request, outcome: .failure, now: t0))
        XCTAssertEqual(index(for: "127.0.0.1", in: &b), 1, "#2 blocked: 5510 → #2, 4957 → #1")
        XCTAssertEqual(index(for: "127.0.0.1", in: &b), 1)
        XCTAssertEqual(index(for: "127.0.1.1", in: &b), 0, "other clients keep their server")
        // fail_timeout later the trial pick goes back to #2.
        var request2 = b.startRequest(client: .ipv4(127, 0, 0, 1), nextUpstreamTries: 0)
        XCTAssertEqual(b.select(&request2, now: t0 + 11), PeerID(index: 2))
    }

    // MARK: round robin fallback

    /// Eight equal servers, only #0 (and optionally #1) up.
    private func eightWithOnlyUp(_ up: Set<Int>) -> UpstreamBalancer {
        UpstreamBalancer(method: .ipHash, peers: (0..<8).map { peer("s\($0)", down: !up.contains($0)) })
    }

    func testTwentyFailedProbesStillHash() {
        // 10.1.173.x visits 3 3 1 6 1 1 4 4 1 7 6 1 7 1 6 3 4 7 3 7 0: twenty misses, the 21st probe (hash 776) finds #0.
        var b = eightWithOnlyUp([0])
        var request = b.startRequest(client: ClientAddressKey(numericAddress: "10.1.173.4"), nextUpstreamTries: 0)
        XCTAssertEqual(b.select(&request, now: t0), PeerID(index: 0))
        XCTAssertEqual(request.ipHashFailedProbes, 20)
        XCTAssertEqual(request.ipHashValue, 776)
    }

    func testMoreThanTwentyFailedProbesFallBackToRoundRobin() {
        // 10.0.6.x never reaches #0 in its first 21 probes (3 1 6 6 7 4 6 3 5 5 2 3 5 4 2 3 4 2 6 6 6): round robin finds it.
        var b = eightWithOnlyUp([0])
        var request = b.startRequest(client: ClientAddressKey(numericAddress: "10.0.6.4"), nextUpstreamTries: 0)
        XCTAssertEqual(b.select(&request, now: t0), PeerID(index: 0))
        XCTAssertEqual(request.ipHashFailedProbes, 21)
        XCTAssertEqual(request.ipHashValue, 89, "nothing saved: the hash was abandoned")
    }

    func testAfterTheFallbackTheRequestStaysOnRoundRobin() {
        // 10.0.230.x avoids #0 and #1 for 21 probes; round robin then takes #0, and the retry goes straight to round robin (#1).
        var b = eightWithOnlyUp([0, 1])
        var request = b.startRequest(client: ClientAddressKey(numericAddress: "10.0.230.1"), nextUpstreamTries: 0)
        let first = b.select(&request, now: t0)!
        XCTAssertEqual(first, PeerID(index: 0))
        b.release(first, &request, outcome: .failure, now: t0)
        XCTAssertEqual(b.select(&request, now: t0), PeerID(index: 1))
        XCTAssertEqual(request.ipHashFailedProbes, 21, "no further probing")
    }

    func testFewerThanTwoPeersUseRoundRobin() {
        var b = UpstreamBalancer(method: .ipHash, peers: [peer("only")])
        XCTAssertEqual(index(for: "127.0.0.1", in: &b), 0)
        var request = b.startRequest(client: .ipv4(127, 0, 0, 1), nextUpstreamTries: 0)
        _ = b.select(&request, now: t0)
        XCTAssertEqual(request.ipHashValue, 89, "no hashing with a single peer")
    }

    func testBackupsAreIgnored() {
        // nginx refuses `backup` with ip_hash; should one slip through it never serves and adds no tries.
        var b = UpstreamBalancer(
            method: .ipHash, peers: [peer("a", down: true), peer("b", down: true), peer("x", backup: true)]
        )
        var request = b.startRequest(client: .ipv4(127, 0, 0, 1), nextUpstreamTries: 0)
        XCTAssertEqual(request.triesLeft, 0)
        XCTAssertNil(b.select(&request, now: t0))
    }

    func testAllServersUnavailableGivesNil() {
        var b = eightWithOnlyUp([])
        var request = b.startRequest(client: .ipv4(10, 0, 0, 1), nextUpstreamTries: 0)
        XCTAssertNil(b.select(&request, now: t0))
    }
}
