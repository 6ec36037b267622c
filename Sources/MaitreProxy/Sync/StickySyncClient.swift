#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreBalancing
import MaitreConfig
import MaitreWire
import NIOCore

/// `sticky learn … sync`: shares learnt sessions with the other maitred instances through Redis
/// (`zone_sync_redis`), as `StickySyncRecord` lays them out. Lives as long as the process, on one event loop; the
/// request path only posts what it learnt (`share`), at most as often as it tells its sibling loops, and never
/// waits for Redis: lookups stay in each loop's table.
///
/// Two connections: one for commands (SET with the zone's timeout as TTL, PUBLISH, and SCAN + MGET to read
/// every zone when the links come up), one subscribed to the zones' channels. When Redis is away, proxying goes
/// on with each instance's own tables; what was learnt meanwhile is not sent later (the session is learnt again
/// at its next use on that instance), and on reconnection every zone is read again.
final class StickySyncClient: @unchecked Sendable {
    let eventLoop: any EventLoop
    private let log: ErrorLog
    /// This process in published messages, so it can ignore its own.
    let instance: String
    private var setting: ZoneSyncRedis?
    private var zones: [String: StickyLearn] = [:]
    private var loops: [NIOLoopBound<LoopContext>] = []
    private var commands: RedisLink?
    private var subscriber: RedisLink?
    private var replies = StickySyncReplies()
    /// When an error reply was last logged (at most one line every 10 s).
    private var errorLoggedAt: Int64 = 0
    private(set) var counters = Counters()

    struct Counters: Equatable {
        /// A Redis and at least one sync zone are configured.
        var configured = false
        /// Both links are up.
        var up = false
        var published = 0
        var received = 0
        var loaded = 0
        /// Learnings not sent: Redis was away or too slow.
        var dropped = 0
    }

    init(eventLoop: any EventLoop, log: ErrorLog) {
        self.eventLoop = eventLoop
        self.log = log
        self.instance = String(UInt64.random(in: 1...UInt64.max), radix: 16)
    }

    // MARK: from anywhere

    /// The configuration's Redis and sync zones, and the loops learnt sessions go to. A changed Redis setting
    /// opens new connections; zones new to the configuration are read at once.
    func configure(_ setting: ZoneSyncRedis?, zones: [StickyLearn], loops: [NIOLoopBound<LoopContext>]) {
        eventLoop.execute { [self] in
            self.loops = loops
            let added = zones.filter { self.zones[$0.zone] == nil }
            self.zones = Dictionary(zones.map { ($0.zone, $0) }, uniquingKeysWith: { first, _ in first })
            if setting != self.setting {
                self.setting = setting
                restart()
            } else if !added.isEmpty, bothReady {
                for learn in added { load(learn) }
            }
        }
    }

    func stop() {
        eventLoop.execute { [self] in
            setting = nil
            restart()
        }
    }

    /// A loop learnt (or refreshed, or moved) a session of a sync zone.
    func share(zone: String, session: [UInt8], serverID: [UInt8]) {
        eventLoop.execute { [self] in
            guard let learn = zones[zone], let setting, let commands, commands.isWritable else {
                counters.dropped += 1
                return
            }
            let learnt = StickySyncRecord.Learnt(session: session, serverID: serverID, lastUsed: Self.wallNow())
            var set: [UInt8] = []
            RESPCommand.encode([
                Array("SET".utf8), StickySyncRecord.key(prefix: setting.prefix, zone: zone, session: session),
                StickySyncRecord.value(learnt), Array("PX".utf8), Array(String(learn.timeout.milliseconds).utf8),
            ], into: &set)
            var publish: [UInt8] = []
            RESPCommand.encode([
                Array("PUBLISH".utf8), StickySyncRecord.channel(prefix: setting.prefix, zone: zone),
                StickySyncRecord.message(learnt, instance: instance),
            ], into: &publish)
            replies.expect(.ignore, .ignore)
            commands.send([set, publish])
            counters.published += 1
        }
    }

    /// The counters, read on the client's loop.
    func readCounters() -> EventLoopFuture<Counters> {
        eventLoop.submit {
            var counters = self.counters
            counters.configured = self.setting != nil
            counters.up = self.bothReady
            return counters
        }
    }

    /// The Redis and sync zones `configuration` names.
    func configure(_ configuration: Configuration, loops: [NIOLoopBound<LoopContext>]) {
        let zones: [StickyLearn] = (configuration.http?.upstreams ?? []).compactMap {
            if case .learn(let learn)? = $0.sticky, learn.sync { return learn }
            return nil
        }
        configure(zones.isEmpty ? nil : configuration.http?.zoneSync, zones: zones, loops: loops)
    }

    // MARK: on the loop

    private var bothReady: Bool { (commands?.isReady ?? false) && (subscriber?.isReady ?? false) }

    private func restart() {
        commands?.stop()
        subscriber?.stop()
        commands = nil
        subscriber = nil
        replies = StickySyncReplies()
        guard let setting else { return }
        var auth: [[UInt8]] = []
        if let password = setting.password { auth.append(RESPCommand.encode(["AUTH", password])) }
        let select = setting.database == 0 ? [] : [RESPCommand.encode(["SELECT", String(setting.database)])]
        let commands = RedisLink(
            role: "commands", handshake: auth + select, setting: setting, eventLoop: eventLoop, log: log)
        var psubscribe: [UInt8] = []
        RESPCommand.encode([Array("PSUBSCRIBE".utf8), StickySyncRecord.channelPattern(prefix: setting.prefix)], into: &psubscribe)
        let subscriber = RedisLink(
            role: "subscriber", handshake: auth + [psubscribe], setting: setting, eventLoop: eventLoop, log: log)
        commands.onReady = { [unowned self] in if bothReady { loadAll() } }
        subscriber.onReady = { [unowned self] in if bothReady { loadAll() } }
        commands.onValue = { [unowned self] in commandReply($0) }
        subscriber.onValue = { [unowned self] in published($0) }
        commands.onLost = { [unowned self] in replies = StickySyncReplies() }
        self.commands = commands
        self.subscriber = subscriber
        commands.start()
        subscriber.start()
    }

    /// Both links are up (again): every zone is read, so what others learnt meanwhile is known here. The
    /// subscription is up first, so nothing published from now on is missed.
    private func loadAll() {
        for learn in zones.values { load(learn) }
    }

    private func load(_ learn: StickyLearn) {
        guard let setting else { return }
        sendScan(learn, cursor: Array("0".utf8), loaded: 0, setting: setting)
    }

    private func sendScan(_ learn: StickyLearn, cursor: [UInt8], loaded: Int, setting: ZoneSyncRedis) {
        var out: [UInt8] = []
        RESPCommand.encode([
            Array("SCAN".utf8), cursor, Array("MATCH".utf8),
            StickySyncRecord.keyPattern(prefix: setting.prefix, zone: learn.zone), Array("COUNT".utf8),
            Array("200".utf8),
        ], into: &out)
        replies.expect(.scan(zone: learn.zone, loaded: loaded))
        commands?.send([out])
    }

    private func commandReply(_ value: RESPValue) {
        guard let expected = replies.next() else { return }
        if case .error(let message) = value {
            let now = Int64(time(nil))
            if now - errorLoggedAt >= 10 {
                errorLoggedAt = now
                log.log(.error, "zone_sync_redis: redis answered \"\(String(decoding: message.prefix(200), as: UTF8.self))\"")
            }
            return
        }
        guard let setting else { return }
        switch expected {
        case .ignore:
            return
        case .scan(let zone, let loaded):
            guard let learn = zones[zone], let (cursor, keys) = StickySyncReplies.scanPage(value) else { return }
            let keyPrefix = StickySyncRecord.keyPrefix(prefix: setting.prefix, zone: zone)
            let sessions = keys.compactMap { key in key.starts(with: keyPrefix) ? Array(key.dropFirst(keyPrefix.count)) : nil }
                .filter { !$0.isEmpty }
            if !sessions.isEmpty {
                var out: [UInt8] = []
                RESPCommand.encode([Array("MGET".utf8)] + sessions.map { keyPrefix + $0 }, into: &out)
                replies.expect(.values(zone: zone, sessions: sessions))
                commands?.send([out])
            }
            // A zone holds at most `capacity` sessions: reading more would only evict what was just read.
            let next = loaded + sessions.count
            if cursor != Array("0".utf8), next < learn.capacity { sendScan(learn, cursor: cursor, loaded: next, setting: setting) }
        case .values(let zone, let sessions):
            guard let learn = zones[zone], let values = value.elements, values.count == sessions.count else { return }
            let wallNow = Self.wallNow()
            var entries: [SyncedSession] = []
            for (session, value) in zip(sessions, values) {
                guard let bytes = value.bytes, let learnt = StickySyncRecord.parseValue(bytes, session: session),
                    let age = StickySyncRecord.age(of: learnt, wallNow: wallNow, timeout: learn.timeout.milliseconds)
                else { continue }
                entries.append(SyncedSession(session: session, serverID: learnt.serverID, age: age))
            }
            counters.loaded += entries.count
            deliver(learn, entries)
        }
    }

    /// A message on the subscription: `pmessage PATTERN CHANNEL PAYLOAD`.
    private func published(_ value: RESPValue) {
        guard let setting, let parts = value.elements, parts.count == 4, parts[0].text == "pmessage",
            let channel = parts[2].bytes, let payload = parts[3].bytes,
            let zone = StickySyncRecord.zone(ofChannel: channel, prefix: setting.prefix), let learn = zones[zone],
            let (sender, learnt) = StickySyncRecord.parseMessage(payload), sender != instance,
            let age = StickySyncRecord.age(of: learnt, wallNow: Self.wallNow(), timeout: learn.timeout.milliseconds)
        else { return }
        counters.received += 1
        deliver(learn, [SyncedSession(session: learnt.session, serverID: learnt.serverID, age: age)])
    }

    private func deliver(_ learn: StickyLearn, _ entries: [SyncedSession]) {
        guard !entries.isEmpty else { return }
        for loop in loops {
            loop.eventLoop.execute { loop.value.adoptSynced(learn, entries) }
        }
    }

    /// Milliseconds since the Unix epoch: what instances compare a session's last use by.
    static func wallNow() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}

/// A session another instance learnt, `age` milliseconds ago.
struct SyncedSession: Sendable {
    var session: [UInt8]
    var serverID: [UInt8]
    var age: Int64
}

/// What each command's reply on the commands link is for, in the order they were sent (Redis answers in order).
struct StickySyncReplies {
    enum Expected: Equatable {
        case ignore
        case scan(zone: String, loaded: Int)
        case values(zone: String, sessions: [[UInt8]])
    }

    private var queue = FIFO<Expected>()

    mutating func expect(_ expected: Expected...) {
        for entry in expected { queue.append(entry) }
    }

    mutating func next() -> Expected? { queue.popFirst() }

    var outstanding: Int { queue.count }

    /// SCAN's answer: the next cursor and this page's keys.
    static func scanPage(_ value: RESPValue) -> (cursor: [UInt8], keys: [[UInt8]])? {
        guard let parts = value.elements, parts.count == 2, let cursor = parts[0].bytes, !cursor.isEmpty,
            let keys = parts[1].elements
        else { return nil }
        return (cursor, keys.compactMap(\.bytes))
    }
}

extension LoopContext {
    /// Sessions another instance learnt: each taken into this loop's table unless the loop used it more recently.
    /// A table not made yet is made with `learn`'s size; an existing one is never remade from here (the
    /// configuration's requests do that), so a message crossing a reload cannot wipe it.
    func adoptSynced(_ learn: StickyLearn, _ entries: [SyncedSession]) {
        let now = Int64(eventLoop.now.uptimeNanoseconds / 1_000_000)
        var table = stickySessions[learn.zone]
            ?? StickySessionTable(capacity: learn.capacity, timeoutMilliseconds: learn.timeout.milliseconds)
        stickySessions[learn.zone] = nil  // held uniquely while it changes
        for entry in entries { table.adopt(entry.session, serverID: entry.serverID, lastUsed: now - entry.age) }
        stickySessions[learn.zone] = table
    }
}
