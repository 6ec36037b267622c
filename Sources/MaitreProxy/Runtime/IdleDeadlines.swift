import NIOCore

/// What the loop's idle deadlines call back when an entry of theirs comes due.
protocol IdleDeadlineOwner: AnyObject {
    /// The owner's entry in the heap, if any (written by `IdleDeadlines`).
    var idleTicket: IdleDeadlines.Ticket? { get set }
    /// The owner's link from the heap; the owner releases it when it is done (its connection closed).
    var idleSlot: IdleDeadlineSlot { get }
    /// The entry came due (its ticket is already cleared): close, or arm again for a later deadline.
    func idleDeadlineCameDue()
}

/// The link from the deadline heap to one owner. The heap's entries hold the slot and the slot holds its owner,
/// both strongly, until the owner releases it when its connection is done; entries of a released slot are skipped.
/// Not a weak reference: that would give the owner (a connection's handler) a side table, and every retain of it,
/// several per request, would take the runtime's slow path.
final class IdleDeadlineSlot {
    private(set) var owner: (any IdleDeadlineOwner)?

    init(owner: any IdleDeadlineOwner) {
        self.owner = owner
    }

    func release() { owner = nil }
}

/// The idle deadlines (`client_header_timeout`, `keepalive_timeout`) of one event loop's client connections, in one
/// min-heap with a single scheduled task for the whole loop, as nginx keeps its timers in one tree per worker. A
/// connection costs one heap entry instead of a scheduled task, promise and closure of its own, and a busy
/// keep-alive connection touches the heap about once per timeout period, not once per request: arming a later
/// deadline than the queued one changes nothing here, and the owner re-arms when the earlier entry comes due.
final class IdleDeadlines {
    struct Ticket: Equatable {
        let generation: UInt64
        let deadline: NIODeadline
    }

    private struct Entry {
        let deadline: NIODeadline
        let generation: UInt64
        let slot: IdleDeadlineSlot
    }

    private let eventLoop: any EventLoop
    private var heap: [Entry] = []
    private var nextGeneration: UInt64 = 0
    private var wakeUp: Scheduled<Void>?
    private var wakeUpAt: NIODeadline?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Entries whose owner went away (closed connections) but that still sit in the heap.
    private var abandoned = 0

    var count: Int { heap.count }

    /// The owner closed: its entry is dead weight until its deadline (a minute for `client_header_timeout`), so
    /// once dead entries are the majority the heap is rebuilt from the live ones. Memory then follows the open
    /// connections, not the connections of the last minute.
    func disarm(_ owner: any IdleDeadlineOwner) {
        guard owner.idleTicket != nil else { return }
        owner.idleTicket = nil
        abandoned += 1
        if abandoned > 64, abandoned * 2 > heap.count { compact() }
    }

    private func compact() {
        heap.removeAll { entry in
            guard let owner = entry.slot.owner else { return true }
            return owner.idleTicket?.generation != entry.generation
        }
        heap.sort { $0.deadline < $1.deadline }  // a sorted array is a valid min-heap
        abandoned = 0
        if heap.isEmpty { heap = [] }  // give back the capacity of a past burst
    }

    /// Makes sure `owner` is looked at no later than `deadline`.
    func arm(_ owner: any IdleDeadlineOwner, at deadline: NIODeadline) {
        if let ticket = owner.idleTicket, ticket.deadline <= deadline { return }
        nextGeneration &+= 1
        owner.idleTicket = Ticket(generation: nextGeneration, deadline: deadline)
        push(Entry(deadline: deadline, generation: nextGeneration, slot: owner.idleSlot))
        if wakeUpAt.map({ deadline < $0 }) ?? true { scheduleWakeUp(at: deadline) }
    }

    /// Calls back every owner whose entry is due at `now`.
    func fire(now: NIODeadline) {
        while let first = heap.first, first.deadline <= now {
            let entry = popFirst()
            guard let owner = entry.slot.owner, owner.idleTicket?.generation == entry.generation else {
                if abandoned > 0 { abandoned -= 1 }
                continue
            }
            owner.idleTicket = nil
            owner.idleDeadlineCameDue()
        }
        if let first = heap.first {
            if wakeUpAt.map({ first.deadline != $0 }) ?? true { scheduleWakeUp(at: first.deadline) }
        } else {
            wakeUp?.cancel()
            wakeUp = nil
            wakeUpAt = nil
        }
    }

    private func scheduleWakeUp(at deadline: NIODeadline) {
        wakeUp?.cancel()
        wakeUpAt = deadline
        wakeUp = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            self.wakeUp = nil
            self.wakeUpAt = nil
            // The loop runs this task at `deadline` or later: entries due by then are due now (reading the clock
            // here instead would not follow a test loop's virtual time).
            self.fire(now: deadline)
        }
    }

    // MARK: Binary min-heap on `deadline`

    private func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func popFirst() -> Entry {
        let first = heap[0]
        let last = heap.removeLast()
        guard !heap.isEmpty else { return first }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { break }
            let right = left + 1
            let smaller = right < heap.count && heap[right].deadline < heap[left].deadline ? right : left
            guard heap[smaller].deadline < heap[parent].deadline else { break }
            heap.swapAt(parent, smaller)
            parent = smaller
        }
        return first
    }
}

@available(*, unavailable)
extension IdleDeadlines: Sendable {}
