import XCTest

@testable import MaitreBalancing

/// Every balancing method against the same synthetic traffic (pure, seeded, no sockets), to tell users which to pick
/// with numbers (docs/algorithms.md prints this test's table):
/// - the hash methods key by the client's address, or in the heavy-keys case by a user id;
/// - uniform clients; 70% of clients behind one /24 (the article's "IP Hash + traffic concentration from a specific IP
///   range"); five heavy keys carrying half the requests: max/mean requests per server;
/// - one of four servers ten times slower, each server working one request at a time: p99 latency.
final class AlgorithmSimulationTests: XCTestCase {
    private static let methods: [(String, BalancingMethod)] = [
        ("round robin", .roundRobin), ("least_conn", .leastConn), ("ip_hash", .ipHash),
        ("hash KEY", .hash), ("hash consistent", .consistentHash), ("hash maglev", .maglev),
        ("random", .random), ("random two", .randomTwo),
        ("random two least_time=last_byte", .randomTwoLeastTime(lastByte: true)),
    ]

    private struct Request {
        let client: ClientAddressKey
        let key: [UInt8]
    }

    private static func address(_ random: inout SplitMix64, slash24: Bool) -> (ClientAddressKey, [UInt8]) {
        let value = random.next()
        let octets: [UInt8] = slash24
            ? [10, 1, 2, UInt8(truncatingIfNeeded: value)]
            : [UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value >> 16),
               UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 32)]
        let text = octets.map(String.init).joined(separator: ".")
        return (.ipv4(octets[0], octets[1], octets[2], octets[3]), Array(text.utf8))
    }

    private static func population(_ name: String, count: Int) -> [Request] {
        var random = SplitMix64(seed: 0xC0FFEE)
        return (0..<count).map { index in
            switch name {
            case "/24":
                let (client, key) = address(&random, slash24: random.next() % 10 < 7)
                return Request(client: client, key: key)
            case "heavy keys":
                let (client, _) = address(&random, slash24: false)
                let heavy = random.next() % 2 == 0
                let key = heavy ? "user\(random.next() % 5)" : "user\(index + 100)"
                return Request(client: client, key: Array(key.utf8))
            default:
                let (client, key) = address(&random, slash24: false)
                return Request(client: client, key: key)
            }
        }
    }

    private static func servers() -> [PeerDescriptor] {
        (1...4).map { PeerDescriptor(name: "10.9.0.\($0):80", address: "10.9.0.\($0):80") }
    }

    /// Requests per server / the mean, for a population sent one at a time.
    private static func imbalance(_ method: BalancingMethod, _ requests: [Request]) -> Double {
        var upstream = UpstreamBalancer(method: method, peers: servers())
        upstream.random = SplitMix64(seed: 7)
        var counts = [Int](repeating: 0, count: 4)
        for request in requests {
            var state = upstream.startRequest(client: request.client, hashKey: request.key, nextUpstreamTries: 0)
            guard let peer = upstream.select(&state, now: 1) else { continue }
            counts[peer.index] += 1
            upstream.release(peer, &state, outcome: .success, now: 1)
        }
        return Double(counts.max() ?? 0) / (Double(requests.count) / 4)
    }

    /// One server 10× slower (40 ms against 4 ms), each working one request at a time in arrival order; 500
    /// requests/s against a capacity of 775. Returns the p99 latency in milliseconds.
    private static func slowServerP99(_ method: BalancingMethod) -> Double {
        var upstream = UpstreamBalancer(method: method, peers: servers())
        upstream.random = SplitMix64(seed: 11)
        let requests = population("uniform", count: 20_000)
        var arrivals = SplitMix64(seed: 3)
        let service: [Double] = [40, 4, 4, 4]
        var freeAt = [Double](repeating: 0, count: 4)
        // Each server finishes in arrival order: one FIFO of (finish, state) per server, and where its head is.
        var pending = [[(finish: Double, arrival: Double, state: PeerSelectionState)]](repeating: [], count: 4)
        var head = [Int](repeating: 0, count: 4)
        var latencies: [Double] = []
        var now = 0.0
        for request in requests {
            // Exponential gaps, mean 2 ms.
            let uniform = Double(arrivals.next() % 1_000_000 + 1) / 1_000_001
            now += -2 * log(uniform)
            for server in 0..<4 {
                while head[server] < pending[server].count, pending[server][head[server]].finish <= now {
                    let done = pending[server][head[server]]
                    var state = done.state
                    // The whole time the request took, as the proxy measures an attempt.
                    let taken = Int64((done.finish - done.arrival) * 1_000_000)
                    upstream.observeResponse(PeerID(index: server), headerNanoseconds: taken, lastByteNanoseconds: taken,
                                             milliseconds: Int64(done.finish))
                    upstream.release(PeerID(index: server), &state, outcome: .success, now: 1)
                    head[server] += 1
                }
            }
            var state = upstream.startRequest(client: request.client, hashKey: request.key, nextUpstreamTries: 0)
            guard let peer = upstream.select(&state, now: 1) else { continue }
            let start = max(now, freeAt[peer.index])
            let finish = start + service[peer.index]
            freeAt[peer.index] = finish
            latencies.append(finish - now)
            pending[peer.index].append((finish, now, state))
        }
        latencies.sort()
        return latencies[latencies.count * 99 / 100]
    }

    func testWhichMethodToPick() {
        var table = ["| method | uniform max/mean | 70% behind one /24 | five heavy keys | one slow server: p99 |",
                     "|---|---:|---:|---:|---:|"]
        var results: [String: (uniform: Double, slash24: Double, heavy: Double, p99: Double)] = [:]
        let uniform = Self.population("uniform", count: 40_000)
        let slash24 = Self.population("/24", count: 40_000)
        let heavy = Self.population("heavy keys", count: 40_000)
        for (name, method) in Self.methods {
            let row = (Self.imbalance(method, uniform), Self.imbalance(method, slash24), Self.imbalance(method, heavy),
                       Self.slowServerP99(method))
            results[name] = row
            table.append("| \(name) | \(String(format: "%.2f", row.0)) | \(String(format: "%.2f", row.1)) | "
                         + "\(String(format: "%.2f", row.2)) | \(Int(row.3.rounded())) ms |")
        }
        print(table.joined(separator: "\n"))
        guard let rr = results["round robin"], let lc = results["least_conn"], let ip = results["ip_hash"],
            let hash = results["hash KEY"], let consistent = results["hash consistent"], let two = results["random two"],
            let random = results["random"], let maglev = results["hash maglev"],
            let leastTime = results["random two least_time=last_byte"]
        else { return XCTFail("missing rows") }
        // Every method spreads uniform clients.
        for (name, row) in results { XCTAssertLessThan(row.uniform, 1.12, name) }
        // The article's pain: ip_hash piles a /24 onto one server; hashing the whole address does not.
        XCTAssertGreaterThan(ip.slash24, 2.5)
        XCTAssertLessThan(hash.slash24, 1.1)
        XCTAssertLessThan(maglev.slash24, 1.2)
        // Heavy keys overload whichever server owns them under every key hash, not the others.
        for row in [hash, consistent, maglev] { XCTAssertGreaterThan(row.heavy, 1.25) }
        XCTAssertLessThan(rr.heavy, 1.01)
        XCTAssertLessThan(lc.heavy, 1.01)
        // A slow server: counting connections (least_conn, random two) keeps it from drowning; blind spreading
        // (round robin, random, hashes) sends it more than it can take and the queue grows without bound.
        XCTAssertGreaterThan(rr.p99, 1_000)
        XCTAssertGreaterThan(random.p99, 1_000)
        XCTAssertLessThan(lc.p99, 200)
        XCTAssertLessThan(two.p99, 200)
        XCTAssertLessThan(leastTime.p99, 200)
    }
}
