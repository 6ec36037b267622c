/// maitred's `hash KEY maglev` (not in nginx): Google's Maglev consistent hashing (Eisenbud et al., NSDI 2016). Every
/// primary fills a prime-sized lookup table along its own permutation (offset and skip from two hashes of its
/// `server` string and address), taking turns in proportion to its weight, so each owns an almost equal share of the
/// slots and removing one moves little more than its own keys. A key is one table lookup (`crc32(KEY) % size`);
/// when that peer is tried, down or failed, the request walks to the next slots' owners (so its load spreads over
/// the others), and after 20 slots falls back to round robin, as nginx's hash methods do.
enum Maglev {
    static let maximumProbes = 20

    static func select(
        _ request: inout PeerSelectionState, from upstream: inout UpstreamPeers, table: MaglevTable,
        now: Int64, milliseconds: Int64
    ) -> PeerID? {
        if request.hashProbes > maximumProbes || upstream.single || request.hashKey.isEmpty || table.isEmpty
            || table.peerCount != upstream.primary.count
        {
            return SmoothWeightedRoundRobin.select(&request, from: &upstream, now: now, milliseconds: milliseconds)
        }
        if request.hashRehash == 0 {
            request.hashValue = CRC32.checksum(request.hashKey) % UInt32(table.size)
            request.hashRehash = 1
        }
        while true {
            let position = table.owner(of: Int(request.hashValue) % table.size)
            if !request.tried.contains(position) && upstream.primary.peers[position].isSelectable(now: now) {
                return upstream.primary.take(position, marking: &request.tried, now: now)
            }
            request.hashValue = (request.hashValue &+ 1) % UInt32(table.size)
            request.hashProbes += 1
            if request.hashProbes > maximumProbes {
                return SmoothWeightedRoundRobin.select(&request, from: &upstream, now: now, milliseconds: milliseconds)
            }
        }
    }
}

/// The Maglev lookup table of one upstream's primaries.
public struct MaglevTable: Sendable {
    /// A prime well above any upstream's size (the paper's M ≫ N): each slot is 1/65537 of the keys.
    public static let defaultSize = 65_537

    /// The primary (list position) owning each slot.
    private let entries: [Int32]
    let size: Int
    let peerCount: Int

    var isEmpty: Bool { entries.isEmpty }

    func owner(of slot: Int) -> Int { Int(entries[slot]) }

    /// `primaries`: (identity string, weight) in list order; the identity is the `server` string and address, so a
    /// name with several addresses gives each its own permutation.
    init(primaries: [(identity: String, weight: Int)], size: Int = MaglevTable.defaultSize) {
        self.size = size
        peerCount = primaries.count
        guard !primaries.isEmpty, size > 1 else {
            entries = []
            return
        }
        let bytes = primaries.map { Array($0.identity.utf8) }
        let offsets = bytes.map { Int(Self.fnv1a($0, basis: 0xCBF2_9CE4_8422_2325) % UInt64(size)) }
        let skips = bytes.map { Int(Self.fnv1a($0, basis: 0x8422_2325_CBF2_9CE4) % UInt64(size - 1)) + 1 }
        let weights = primaries.map { max(1, min($0.weight, 1_000)) }
        var next = [Int](repeating: 0, count: primaries.count)
        var table = [Int32](repeating: -1, count: size)
        var filled = 0
        fill: while true {
            for peer in primaries.indices {
                // A peer of weight w takes w slots per round.
                for _ in 0..<weights[peer] {
                    var slot = (offsets[peer] + next[peer] * skips[peer]) % size
                    while table[slot] >= 0 {
                        next[peer] += 1
                        slot = (offsets[peer] + next[peer] * skips[peer]) % size
                    }
                    table[slot] = Int32(peer)
                    next[peer] += 1
                    filled += 1
                    if filled == size { break fill }
                }
            }
        }
        entries = table
    }

    /// FNV-1a over the bytes from `basis` (two bases give the paper's two independent hashes).
    private static func fnv1a(_ bytes: [UInt8], basis: UInt64) -> UInt64 {
        var hash = basis
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}
