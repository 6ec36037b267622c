/// `sticky learn`'s sessions on one event loop: session id → the server ID of the server that created it, with
/// when it was last used. Bounded: at capacity the least recently used tenth is dropped (nginx drops the oldest
/// when its zone is full); an entry unused for `timeout` is gone. Pure: time is passed in (milliseconds).
public struct StickySessionTable: Sendable {
    public struct Entry: Sendable, Equatable {
        public var serverID: [UInt8]
        public var lastUsed: Int64
        /// When this entry was last told to the other event loops.
        public var lastShared: Int64
    }

    public let capacity: Int
    public let timeoutMilliseconds: Int64
    private(set) var entries: [[UInt8]: Entry] = [:]

    public init(capacity: Int, timeoutMilliseconds: Int64) {
        self.capacity = max(1, capacity)
        self.timeoutMilliseconds = max(1, timeoutMilliseconds)
    }

    public var count: Int { entries.count }

    /// The server ID of a live session (nil when unknown or expired, which forgets it).
    public mutating func serverID(of session: [UInt8], now: Int64) -> [UInt8]? {
        guard let entry = entries[session] else { return nil }
        guard now - entry.lastUsed <= timeoutMilliseconds else {
            entries[session] = nil
            return nil
        }
        return entry.serverID
    }

    /// What learning means for the other loops.
    public enum Change: Equatable {
        /// Nothing they need to hear yet.
        case local
        /// Tell them: a new session, a new server, or a refresh they have not heard of for a while.
        case share(serverID: [UInt8], lastUsed: Int64)
    }

    /// ngx_http_upstream_sticky_learn_peer: a known session is refreshed (and moved to `serverID` if it changed);
    /// an unknown one is created only when `create` (the server made it), as nginx does.
    public mutating func learn(_ session: [UInt8], serverID: [UInt8], create: Bool, now: Int64) -> Change {
        if var entry = entries[session], now - entry.lastUsed <= timeoutMilliseconds {
            let moved = entry.serverID != serverID
            entry.serverID = serverID
            entry.lastUsed = now
            // Refreshes are told at most every tenth of the timeout, so a busy session does not flood the loops.
            let stale = now - entry.lastShared >= timeoutMilliseconds / 10
            if moved || stale { entry.lastShared = now }
            entries[session] = entry
            return moved || stale ? .share(serverID: serverID, lastUsed: now) : .local
        }
        guard create else { return .local }
        makeRoom()
        entries[session] = Entry(serverID: serverID, lastUsed: now, lastShared: now)
        return .share(serverID: serverID, lastUsed: now)
    }

    /// Another loop learnt this: taken unless this loop has seen the session used more recently.
    public mutating func adopt(_ session: [UInt8], serverID: [UInt8], lastUsed: Int64) {
        if let entry = entries[session], entry.lastUsed > lastUsed, entry.serverID == serverID { return }
        if entries[session] == nil { makeRoom() }
        entries[session] = Entry(serverID: serverID, lastUsed: lastUsed, lastShared: lastUsed)
    }

    /// Drops expired sessions (`now`), for the periodic sweep.
    public mutating func expire(now: Int64) {
        entries = entries.filter { now - $0.value.lastUsed <= timeoutMilliseconds }
    }

    private mutating func makeRoom() {
        guard entries.count >= capacity else { return }
        let victims = entries.sorted { $0.value.lastUsed < $1.value.lastUsed }.prefix(max(1, capacity / 10))
        for (session, _) in victims { entries[session] = nil }
    }
}
