import NIOConcurrencyHelpers

/// Counts of live objects whose lifetime must follow a connection's, for the leak tests: after every connection
/// closed, each count returns to zero. Counted in debug builds only (a lock per object would sit on the hot path).
public enum LiveObjects {
    public enum Kind: Int, CaseIterable, Sendable {
        case clientHandler, exchange, upstreamConnection, streamSession
    }

    #if DEBUG
    private static let counts = NIOLockedValueBox([Int](repeating: 0, count: Kind.allCases.count))
    #endif

    @inline(__always)
    static func created(_ kind: Kind) {
        #if DEBUG
        counts.withLockedValue { $0[kind.rawValue] += 1 }
        #endif
    }

    @inline(__always)
    static func destroyed(_ kind: Kind) {
        #if DEBUG
        counts.withLockedValue { $0[kind.rawValue] -= 1 }
        #endif
    }

    /// How many objects of `kind` are alive; nil in release builds, which do not count.
    public static func count(_ kind: Kind) -> Int? {
        #if DEBUG
        return counts.withLockedValue { $0[kind.rawValue] }
        #else
        return nil
        #endif
    }
}
