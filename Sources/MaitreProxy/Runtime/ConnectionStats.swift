import Atomics

/// nginx's stub_status counters for one event loop: connections accepted and handled, client connections open,
/// requests, and how many connections are reading a request head or writing a response (the rest wait). Each
/// loop adds to its own cells (relaxed atomics, as nginx's `ngx_atomic_fetch_add` on its shared counters); the
/// status page sums every loop's when it is asked.
final class ConnectionStats: Sendable {
    let accepted = ManagedAtomic<Int>(0)
    let handled = ManagedAtomic<Int>(0)
    let active = ManagedAtomic<Int>(0)
    let requests = ManagedAtomic<Int>(0)
    let reading = ManagedAtomic<Int>(0)
    let writing = ManagedAtomic<Int>(0)

    /// What a connection is doing, for the reading and writing counts.
    enum Phase {
        case waiting
        case reading
        case writing
    }

    func move(from old: Phase, to new: Phase) {
        guard old != new else { return }
        switch old {
        case .waiting: break
        case .reading: reading.wrappingDecrement(ordering: .relaxed)
        case .writing: writing.wrappingDecrement(ordering: .relaxed)
        }
        switch new {
        case .waiting: break
        case .reading: reading.wrappingIncrement(ordering: .relaxed)
        case .writing: writing.wrappingIncrement(ordering: .relaxed)
        }
    }
}

/// Every loop's counters, shared by the loops of one server.
final class ConnectionStatsTable: Sendable {
    let loops: [ConnectionStats]

    init(loopCount: Int) {
        loops = (0..<max(1, loopCount)).map { _ in ConnectionStats() }
    }

    /// stub_status's seven figures, summed over the loops.
    struct Totals: Equatable {
        var active = 0, accepted = 0, handled = 0, requests = 0, reading = 0, writing = 0
        var waiting: Int { max(0, active - reading - writing) }
    }

    var totals: Totals {
        var totals = Totals()
        for stats in loops {
            totals.active += stats.active.load(ordering: .relaxed)
            totals.accepted += stats.accepted.load(ordering: .relaxed)
            totals.handled += stats.handled.load(ordering: .relaxed)
            totals.requests += stats.requests.load(ordering: .relaxed)
            totals.reading += stats.reading.load(ordering: .relaxed)
            totals.writing += stats.writing.load(ordering: .relaxed)
        }
        return totals
    }

    /// The body nginx's stub_status writes, byte for byte.
    static func stubStatusBody(_ totals: Totals) -> String {
        "Active connections: \(totals.active) \n"
            + "server accepts handled requests\n"
            + " \(totals.accepted) \(totals.handled) \(totals.requests) \n"
            + "Reading: \(totals.reading) Writing: \(totals.writing) Waiting: \(totals.waiting) \n"
    }
}
