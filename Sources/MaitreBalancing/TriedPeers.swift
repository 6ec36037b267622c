/// nginx's per-request `tried` bitmap (`rrp->tried`): one word inline for lists of up to 64 peers (nginx uses `rrp->data` for
/// up to 8 × sizeof(uintptr_t)), otherwise words allocated once when the request starts. Clearing keeps the storage, so the
/// selection path never allocates.
struct TriedPeers: Sendable {
    private var inlineWord: UInt64 = 0
    /// Empty unless the larger of the two lists has more than 64 peers; then it holds every word and `inlineWord` is unused.
    private var words: [UInt64]

    init(capacity: Int) {
        words = capacity > 64 ? Array(repeating: 0, count: (capacity + 63) / 64) : []
    }

    func contains(_ position: Int) -> Bool {
        let mask: UInt64 = 1 << UInt64(position % 64)
        if words.isEmpty {
            return position < 64 && inlineWord & mask != 0
        }
        return words[position / 64] & mask != 0
    }

    mutating func insert(_ position: Int) {
        let mask: UInt64 = 1 << UInt64(position % 64)
        if words.isEmpty {
            inlineWord |= mask
        } else {
            words[position / 64] |= mask
        }
    }

    /// The loop that zeroes `rrp->tried` when a request switches to the backup list.
    mutating func removeAll() {
        inlineWord = 0
        for word in words.indices {
            words[word] = 0
        }
    }
}
