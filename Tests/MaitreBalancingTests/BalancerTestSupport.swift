@testable import MaitreBalancing
import XCTest

/// A realistic wall clock in seconds; nginx's counters start at 0, so the first pick of every peer moves `checked` to `now`.
let t0: Int64 = 1_700_000_000

func peer(
    _ name: String, weight: Int = 1, maxFails: Int = 1, failTimeout: Int64 = 10, backup: Bool = false, down: Bool = false
) -> PeerDescriptor {
    PeerDescriptor(
        name: name, address: "10.0.0.\(name.unicodeScalars.first!.value % 250):80", weight: weight, maxFails: maxFails,
        failTimeoutSeconds: failTimeout, backup: backup, down: down
    )
}

func balancer(_ method: BalancingMethod = .roundRobin, _ peers: PeerDescriptor...) -> UpstreamBalancer {
    UpstreamBalancer(method: method, peers: peers)
}

extension UpstreamBalancer {
    /// The name of the peer a new request gets, released as `outcome` straight away (one attempt, no retry).
    mutating func pickOnce(
        client: ClientAddressKey = .other, now: Int64 = t0, outcome: PeerOutcome = .success
    ) -> String? {
        var request = startRequest(client: client, nextUpstreamTries: 0)
        guard let id = select(&request, now: now) else { return nil }
        release(id, &request, outcome: outcome, now: now)
        return peers[id.index].name
    }

    /// Names of the peers `count` consecutive single-attempt successful requests get, joined ("aabaca"); "-" for none.
    mutating func sequence(_ count: Int, client: ClientAddressKey = .other, now: Int64 = t0) -> String {
        (0..<count).map { _ in pickOnce(client: client, now: now) ?? "-" }.joined()
    }

    /// The peers one request visits when every attempt fails, until select gives up or tries run out.
    mutating func failoverOrder(client: ClientAddressKey = .other, now: Int64 = t0, nextUpstreamTries: Int = 0) -> [Int] {
        var request = startRequest(client: client, nextUpstreamTries: nextUpstreamTries)
        var visited: [Int] = []
        while request.triesLeft > 0, let id = select(&request, now: now) {
            visited.append(id.index)
            release(id, &request, outcome: .failure, now: now)
        }
        return visited
    }

    func state(_ index: Int) -> PeerLiveState { state(of: PeerID(index: index)) }
}
