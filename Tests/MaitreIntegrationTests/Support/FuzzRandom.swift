import MaitreBalancing

/// Helpers over MaitreBalancing's `SplitMix64` for the fuzz cases: every case is a pure function of its seed and
/// index, so a failing case index reproduces the same bytes on every machine and run.
extension SplitMix64 {
    /// The generator for case `index` of a run seeded with `seed`: cases do not depend on each other.
    init(seed: UInt64, index: Int) {
        var mixer = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15))
        self.init(seed: mixer.next())
    }

    /// A number in 0..<n (n > 0). The modulo bias is irrelevant for test inputs.
    mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        return Int(next() % UInt64(n))
    }

    /// A number in `range`.
    mutating func inRange(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.count)
    }

    /// True with probability `percent`/100.
    mutating func percent(_ percent: Int) -> Bool {
        below(100) < percent
    }

    mutating func pick<T>(_ options: [T]) -> T {
        options[below(options.count)]
    }

    mutating func byte() -> UInt8 {
        UInt8(truncatingIfNeeded: next())
    }
}

/// Random edits of a byte string, shared by both fuzz directions.
enum ByteMutation {
    /// Applies 1...`maxEdits` random flips, inserts and deletes to `bytes`.
    static func mutate(_ bytes: [UInt8], rng: inout SplitMix64, maxEdits: Int = 4) -> [UInt8] {
        var out = bytes
        for _ in 0..<rng.inRange(1...maxEdits) {
            let position = out.isEmpty ? 0 : rng.below(out.count)
            switch rng.below(3) {
            case 0 where !out.isEmpty:
                out[position] ^= UInt8(1) << UInt8(rng.below(8))
            case 1:
                out.insert(rng.pick([0x00, 0x0A, 0x0D, 0x20, 0x3A, 0x7F, 0x80, 0xFF, rng.byte()]), at: position)
            default:
                if !out.isEmpty { out.remove(at: position) }
            }
        }
        return out
    }

    /// Splits `bytes` into up to `maxPieces` non-empty pieces at random offsets.
    static func split(_ bytes: [UInt8], rng: inout SplitMix64, maxPieces: Int = 8) -> [[UInt8]] {
        guard bytes.count > 1 else { return [bytes] }
        var cuts = Set<Int>()
        for _ in 1..<rng.inRange(2...maxPieces) { cuts.insert(rng.inRange(1...(bytes.count - 1))) }
        var out: [[UInt8]] = []
        var start = 0
        for cut in cuts.sorted() + [bytes.count] {
            out.append(Array(bytes[start..<cut]))
            start = cut
        }
        return out
    }
}
