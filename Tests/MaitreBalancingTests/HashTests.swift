import XCTest

@testable import MaitreBalancing

/// `hash KEY` and `hash KEY consistent`, request for request against nginx: the expected servers were recorded
/// from a real nginx 1.22.1 (three backends answering with their port, `hash $arg_k [consistent]`, the second
/// server `weight=2`, or `down` in the `hd`/`cd` upstreams, one request per key), so a user moving from nginx keeps
/// every key on the same server.
final class HashTests: XCTestCase {
    private func balancer(_ method: BalancingMethod, secondDown: Bool) -> UpstreamBalancer {
        UpstreamBalancer(method: method, peers: [
            PeerDescriptor(name: "127.0.0.1:18501", address: "127.0.0.1:18501"),
            PeerDescriptor(name: "127.0.0.1:18502", address: "127.0.0.1:18502", weight: secondDown ? 1 : 2,
                           down: secondDown),
            PeerDescriptor(name: "127.0.0.1:18503", address: "127.0.0.1:18503"),
        ])
    }

    private func ports(_ method: BalancingMethod, secondDown: Bool) -> [Int] {
        var upstream = balancer(method, secondDown: secondDown)
        return NginxHashFixture.keys.map { key in
            var request = upstream.startRequest(client: .other, hashKey: Array(key.utf8), nextUpstreamTries: 0)
            guard let peer = upstream.select(&request, now: 1_000) else { return 0 }
            upstream.release(peer, &request, outcome: .success, now: 1_000)
            return 18501 + peer.index
        }
    }

    /// `hash $binary_remote_addr [consistent]`: the client address's four bytes as the key, for clients 127.0.0.1 to
    /// 127.0.0.24 (recorded from nginx the same way, each request from its own loopback source address).
    func testBinaryRemoteAddrKeysMatchNginx() {
        for (method, expected) in [(BalancingMethod.hash, NginxHashFixture.binary),
                                   (.consistentHash, NginxHashFixture.binaryConsistent)] {
            var upstream = balancer(method, secondDown: false)
            let ports = (1...24).map { last -> Int in
                var request = upstream.startRequest(client: .other, hashKey: [127, 0, 0, UInt8(last)], nextUpstreamTries: 0)
                guard let peer = upstream.select(&request, now: 1) else { return 0 }
                upstream.release(peer, &request, outcome: .success, now: 1)
                return 18501 + peer.index
            }
            XCTAssertEqual(ports, expected, "\(method)")
        }
    }

    func testCRC32IsNginxs() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([]), 0)
        var split = CRC32()
        split.update(Array("1234".utf8))
        split.update(Array("56789".utf8))
        XCTAssertEqual(split.final, 0xCBF4_3926, "updates chain as ngx_crc32_update does")
    }

    func testPlainHashMatchesNginx() {
        XCTAssertEqual(ports(.hash, secondDown: false), NginxHashFixture.h)
    }

    func testPlainHashRehashesPastADownServerAsNginx() {
        XCTAssertEqual(ports(.hash, secondDown: true), NginxHashFixture.hd)
    }

    func testConsistentHashMatchesNginx() {
        XCTAssertEqual(ports(.consistentHash, secondDown: false), NginxHashFixture.c)
    }

    func testConsistentHashWalksPastADownServerAsNginx() {
        XCTAssertEqual(ports(.consistentHash, secondDown: true), NginxHashFixture.cd)
    }

    /// Ketama's promise: removing one of four servers moves only the keys it had (about a quarter), where plain hash
    /// moves most of them.
    func testRemovingAServerMovesOnlyItsKeys() {
        func mapping(_ method: BalancingMethod, servers: [String]) -> [String] {
            var upstream = UpstreamBalancer(method: method, peers: servers.map { PeerDescriptor(name: $0, address: $0) })
            return (0..<2_000).map { index in
                var request = upstream.startRequest(client: .other, hashKey: Array("user\(index)".utf8), nextUpstreamTries: 0)
                guard let peer = upstream.select(&request, now: 1) else { return "-" }
                upstream.release(peer, &request, outcome: .success, now: 1)
                return servers[peer.index]
            }
        }
        let four = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"]
        let three = Array(four.dropLast())
        let before = mapping(.consistentHash, servers: four)
        let after = mapping(.consistentHash, servers: three)
        let moved = zip(before, after).filter { $0 != $1 }
        XCTAssertTrue(moved.allSatisfy { $0.0 == "10.0.0.4:80" }, "only the removed server's keys move")
        let share = Double(moved.count) / 2_000
        XCTAssertGreaterThan(share, 0.15)
        XCTAssertLessThan(share, 0.35)
        let plainMoved = zip(mapping(.hash, servers: four), mapping(.hash, servers: three)).filter { $0 != $1 }.count
        XCTAssertGreaterThan(Double(plainMoved) / 2_000, 0.5, "plain hash reshuffles most keys")
    }

    func testEmptyKeyAndSingleServerFallBackToRoundRobin() {
        var upstream = balancer(.consistentHash, secondDown: false)
        var seen: [Int] = []
        for _ in 0..<4 {
            var request = upstream.startRequest(client: .other, hashKey: [], nextUpstreamTries: 0)
            guard let peer = upstream.select(&request, now: 1) else { return XCTFail("no peer") }
            upstream.release(peer, &request, outcome: .success, now: 1)
            seen.append(peer.index)
        }
        XCTAssertEqual(seen, [1, 0, 2, 1], "smooth weighted round robin over weights 1, 2, 1")
    }

    func testServerStringSplitsAsNginx() {
        XCTAssertEqual(ConsistentHashPoints.split("10.0.0.1:8080").port, Array("8080".utf8))
        XCTAssertEqual(ConsistentHashPoints.split("10.0.0.1:8080").host, Array("10.0.0.1".utf8))
        XCTAssertEqual(ConsistentHashPoints.split("backend.local").port, [])
        XCTAssertEqual(ConsistentHashPoints.split("[::1]:81").host, Array("[::1]".utf8))
        XCTAssertEqual(ConsistentHashPoints.split("unix:/tmp/s").host, Array("/tmp/s".utf8))
        XCTAssertEqual(ConsistentHashPoints.split("host:8x").port, [], "a port must be all digits")
    }
}

enum NginxHashFixture {
    static let keys: [String] = ["key0", "key1", "key2", "key3", "key4", "key5", "key6", "key7", "key8", "key9",
        "key10", "key11", "key12", "key13", "key14", "key15", "key16", "key17", "key18", "key19", "key20", "key21",
        "key22", "key23", "key24", "key25", "key26", "key27", "key28", "key29", "key30", "key31", "key32", "key33",
        "key34", "key35", "key36", "key37", "key38", "key39", "/index.html", "user42", "10.0.0.7", "a",
        "session%3Dabc123", "%C3%BCn%C3%AFc%C3%B6d%C3%A9"]
    static let h: [Int] = [18503, 18501, 18502, 18502, 18502, 18502, 18501, 18503, 18501, 18503, 18501, 18503,
        18502, 18502, 18502, 18502, 18503, 18501, 18503, 18501, 18502, 18502, 18503, 18501, 18501, 18503, 18502,
        18502, 18502, 18502, 18502, 18502, 18501, 18503, 18503, 18501, 18502, 18502, 18502, 18502, 18502, 18503,
        18502, 18503, 18502, 18502]
    static let c: [Int] = [18503, 18502, 18502, 18502, 18502, 18503, 18503, 18503, 18503, 18502, 18502, 18502,
        18503, 18502, 18503, 18503, 18502, 18503, 18502, 18502, 18502, 18502, 18502, 18502, 18502, 18503, 18502,
        18503, 18502, 18503, 18502, 18503, 18503, 18501, 18503, 18502, 18502, 18501, 18503, 18501, 18501, 18501,
        18501, 18502, 18502, 18502]
    static let hd: [Int] = [18503, 18503, 18501, 18501, 18503, 18503, 18501, 18501, 18501, 18501, 18501, 18501,
        18503, 18503, 18503, 18501, 18501, 18501, 18501, 18503, 18501, 18501, 18503, 18503, 18503, 18503, 18501,
        18501, 18503, 18501, 18503, 18503, 18501, 18503, 18503, 18501, 18503, 18503, 18503, 18501, 18503, 18501,
        18503, 18503, 18503, 18501]
    static let cd: [Int] = [18503, 18501, 18501, 18503, 18501, 18503, 18503, 18503, 18503, 18501, 18501, 18503,
        18503, 18501, 18503, 18503, 18503, 18503, 18503, 18501, 18501, 18503, 18503, 18501, 18503, 18503, 18503,
        18503, 18503, 18503, 18501, 18503, 18503, 18501, 18503, 18503, 18503, 18501, 18503, 18501, 18501, 18501,
        18501, 18503, 18503, 18501]
    static let binary: [Int] = [18503, 18502, 18502, 18502, 18502, 18503, 18501, 18503, 18501, 18502, 18502, 18502,
        18502, 18501, 18503, 18503, 18501, 18502, 18502, 18502, 18502, 18501, 18503, 18501]
    static let binaryConsistent: [Int] = [18502, 18502, 18502, 18503, 18502, 18502, 18502, 18502, 18503, 18501,
        18502, 18502, 18503, 18503, 18503, 18502, 18503, 18503, 18501, 18501, 18502, 18501, 18503, 18503]
}
