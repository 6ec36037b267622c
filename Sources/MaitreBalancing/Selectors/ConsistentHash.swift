/// nginx's `hash KEY consistent` (ngx_http_upstream_get_chash_peer): ketama. Every primary contributes 160 points per
/// unit of weight, hashed from its `server` string as written (`crc32(HOST \0 PORT PREV_HASH)`, compatible with
/// Cache::Memcached::Fast), so several balancers with the same server lines agree, and nginx and maitred map a key to
/// the same server. A request starts at the first point at or after `crc32(KEY)` and walks forward past servers it
/// cannot use; the peers of the point's server (one per resolved address) are chosen by smooth weighted round robin.
/// Round robin after more than 20 points, with a single peer, or with an empty key.
enum ConsistentHash {
    static let maximumProbes = 20

    static func select(
        _ request: inout PeerSelectionState, from upstream: inout UpstreamPeers, points: ConsistentHashPoints,
        now: Int64, milliseconds: Int64
    ) -> PeerID? {
        if request.hashProbes > maximumProbes || upstream.single || request.hashKey.isEmpty || points.isEmpty
            || points.serverOfPeer.count != upstream.primary.count
        {
            return SmoothWeightedRoundRobin.select(&request, from: &upstream, now: now, milliseconds: milliseconds)
        }
        if request.hashRehash == 0 {
            // ngx_http_upstream_init_chash_peer: the first point at or after the key's hash (possibly past the end).
            request.hashValue = UInt32(truncatingIfNeeded: points.firstIndex(atOrAfter: CRC32.checksum(request.hashKey)))
            request.hashRehash = 1
        }
        let scale = upstream.primary.weightScale
        while true {
            let server = points.server(at: Int(request.hashValue % UInt32(points.count)))
            var best: Int?
            var total = 0
            for position in upstream.primary.peers.indices where points.serverOfPeer[position] == server {
                if request.tried.contains(position) || !upstream.primary.peers[position].isSelectable(now: now) {
                    continue
                }
                total += upstream.primary.peers[position].accumulateSmoothWeight(scale: scale, milliseconds: milliseconds)
                if let leader = best,
                    upstream.primary.peers[position].currentWeight <= upstream.primary.peers[leader].currentWeight
                {
                    continue
                }
                best = position
            }
            if let best {
                upstream.primary.peers[best].currentWeight -= total
                return upstream.primary.take(best, marking: &request.tried, now: now)
            }
            request.hashValue &+= 1
            request.hashProbes += 1
            if request.hashProbes > maximumProbes {
                return SmoothWeightedRoundRobin.select(&request, from: &upstream, now: now, milliseconds: milliseconds)
            }
        }
    }
}

/// The ketama ring of one upstream, built from its primaries' `server` strings and weights (once per configuration).
public struct ConsistentHashPoints: Sendable {
    /// Sorted by hash, one point per distinct hash: the hash and the index of its server in `servers`.
    private let hashes: [UInt32]
    private let pointServers: [Int]
    /// The distinct server strings, and for each primary (in list order) the index of its string.
    let servers: [String]
    let serverOfPeer: [Int]

    var count: Int { hashes.count }
    var isEmpty: Bool { hashes.isEmpty }

    func server(at index: Int) -> Int { pointServers[index] }

    /// `primaries`: (server string as written, weight) in list order.
    init(primaries: [(server: String, weight: Int)]) {
        var servers: [String] = []
        var serverIndex: [String: Int] = [:]
        var serverOfPeer: [Int] = []
        var points: [(hash: UInt32, server: Int)] = []
        for primary in primaries {
            let index: Int
            if let known = serverIndex[primary.server] {
                index = known
            } else {
                index = servers.count
                servers.append(primary.server)
                serverIndex[primary.server] = index
            }
            serverOfPeer.append(index)
            let (host, port) = Self.split(primary.server)
            var base = CRC32()
            base.update(host)
            base.update(CollectionOfOne(UInt8(0)))
            base.update(port)
            var previous: UInt32 = 0
            for _ in 0..<(max(1, primary.weight) * 160) {
                var crc = base
                // The previous hash's four bytes as they lie in memory on a little-endian machine.
                crc.update([UInt8(previous & 0xFF), UInt8(previous >> 8 & 0xFF), UInt8(previous >> 16 & 0xFF),
                            UInt8(previous >> 24)])
                let hash = crc.final
                points.append((hash, index))
                previous = hash
            }
        }
        // qsort is not stable: among equal hashes nginx keeps whichever qsort left first. Equal hashes of different
        // servers are vanishingly rare (CRC32 over distinct inputs); the server index breaks ties deterministically.
        points.sort { $0.hash != $1.hash ? $0.hash < $1.hash : $0.server < $1.server }
        var hashes: [UInt32] = []
        var pointServers: [Int] = []
        for point in points where hashes.last != point.hash {
            hashes.append(point.hash)
            pointServers.append(point.server)
        }
        self.hashes = hashes
        self.pointServers = pointServers
        self.servers = servers
        self.serverOfPeer = serverOfPeer
    }

    /// ngx_http_upstream_find_chash_point: the first point whose hash is at least `hash` (`count` when none is).
    func firstIndex(atOrAfter hash: UInt32) -> Int {
        var low = 0
        var high = hashes.count
        while low < high {
            let middle = (low + high) / 2
            if hash > hashes[middle] {
                low = middle + 1
            } else if hash < hashes[middle] {
                high = middle
            } else {
                return middle
            }
        }
        return low
    }

    /// `HOST` and `PORT` of a server string as nginx splits it: `unix:PATH` has no port; otherwise the digits after the
    /// last `:` are the port when there are only digits there.
    static func split(_ server: String) -> (host: [UInt8], port: [UInt8]) {
        let bytes = Array(server.utf8)
        if bytes.count >= 5, String(decoding: bytes[0..<5], as: UTF8.self).lowercased() == "unix:" {
            return (Array(bytes[5...]), [])
        }
        var index = bytes.count
        while index > 0 {
            let byte = bytes[index - 1]
            if byte == UInt8(ascii: ":") {
                return (Array(bytes[..<(index - 1)]), Array(bytes[index...]))
            }
            if byte < UInt8(ascii: "0") || byte > UInt8(ascii: "9") { break }
            index -= 1
        }
        return (bytes, [])
    }
}
