import MaitreBalancing
import MaitreConfig
import MaitreWire
import NIOCore

/// `sticky learn` on the request path: a client's session id (`lookup=`) names the server that created the
/// session; a server's new session (`create=`, read from its response) is remembered with that server. Each event
/// loop keeps its own table (`LoopContext.stickySessions`) and tells the others what it learnt, so nothing on the
/// request path takes a lock.
struct StickyLearnState {
    /// The id the request brought (`lookup=`), and the one its response created (`create=`).
    var lookup: [UInt8]?
    var created: [UInt8]?
    /// `create=` sources that are request variables, read when the request started.
    var createdFromRequest: [UInt8]?
    /// The looked-up session was known when the request was balanced.
    var lookupKnown = false
}

extension HTTPProxyHandler {
    /// At the request's start: the session it names, and the server ID it was learnt with (the balancer's hint).
    func stickyLearnStart(_ learn: StickyLearn, _ variables: RequestVariables) -> (StickyLearnState, hint: [UInt8]) {
        var state = StickyLearnState()
        for variable in learn.lookup {
            let value = variables.value(of: variable)
            if !value.isEmpty {
                state.lookup = Array(value.utf8)
                break
            }
        }
        for source in learn.create {
            if case .variable(let variable) = source {
                let value = variables.value(of: variable)
                if !value.isEmpty {
                    state.createdFromRequest = Array(value.utf8)
                    break
                }
            }
        }
        let hint = state.lookup.flatMap { loop.stickyServerID(learn, session: $0) } ?? []
        state.lookupKnown = !hint.isEmpty
        return (state, hint)
    }

    /// The response head came: the session id the server created, if any (`$upstream_cookie_NAME`,
    /// `$upstream_http_NAME`, or a request variable), in `create=` order.
    static func stickyCreatedID(_ learn: StickyLearn, _ head: UpstreamResponseHead, _ state: StickyLearnState) -> [UInt8]? {
        head.bytes.withUnsafeReadableBytes { raw -> [UInt8]? in
            for source in learn.create {
                switch source {
                case .upstreamCookie(let name):
                    if let value = setCookieValue(name, head.parsed, raw) { return value }
                case .upstreamHeader(let name):
                    if let value = headerValue(name, head.parsed, raw) { return value }
                case .variable:
                    if let value = state.createdFromRequest { return value }
                }
            }
            return nil
        }
    }

    /// nginx's learn: the created id (a new session) or else the looked-up one (a refresh, which moves the
    /// session when its server could not take the request), with the server that answered. Unlike nginx, a
    /// looked-up session that was unknown when the request was balanced is left alone: learnt meanwhile (by
    /// another loop or instance, or read from Redis as an instance starts), it must not move to wherever this
    /// request happened to go.
    func stickyLearnFinish(_ learn: StickyLearn, _ state: StickyLearnState, peer: PeerID, upstream: Int) {
        let serverID = runtime.balancers[upstream].serverID(of: peer)
        if let created = state.created {
            loop.stickyLearn(learn, session: created, serverID: serverID, create: true)
        } else if let lookup = state.lookup, state.lookupKnown {
            loop.stickyLearn(learn, session: lookup, serverID: serverID, create: false)
        }
    }

    /// `$upstream_cookie_NAME`: the value of cookie NAME in the upstream's Set-Cookie lines (up to `;`).
    private static func setCookieValue(_ name: String, _ head: ResponseHead, _ raw: UnsafeRawBufferPointer) -> [UInt8]? {
        let wanted = Array(name.utf8)
        for field in head.fields where raw.equalsLowercased(field.nameStart, field.nameEnd, "set-cookie") {
            var position = field.valueStart
            while position < field.valueEnd && (raw[position] == 0x20 || raw[position] == 0x09) { position += 1 }
            guard position + wanted.count < field.valueEnd else { continue }
            var matches = true
            for (offset, byte) in wanted.enumerated() where lower(raw[position + offset]) != lower(byte) {
                matches = false
                break
            }
            guard matches, raw[position + wanted.count] == UInt8(ascii: "=") else { continue }
            var end = position + wanted.count + 1
            let start = end
            while end < field.valueEnd && raw[end] != UInt8(ascii: ";") { end += 1 }
            let value = Array(raw[start..<end])
            return value.isEmpty ? nil : value
        }
        return nil
    }

    /// `$upstream_http_NAME` (NAME lowercased, `_` for `-`): the first such header's value.
    private static func headerValue(_ name: String, _ head: ResponseHead, _ raw: UnsafeRawBufferPointer) -> [UInt8]? {
        let wanted = Array(name.utf8).map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : $0 }
        for field in head.fields where field.nameEnd - field.nameStart == wanted.count {
            var matches = true
            for offset in 0..<wanted.count where lower(raw[field.nameStart + offset]) != wanted[offset] {
                matches = false
                break
            }
            if matches, field.valueEnd > field.valueStart { return Array(raw[field.valueStart..<field.valueEnd]) }
        }
        return nil
    }

    private static func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte + 32 : byte }
}

extension LoopContext {
    /// The server ID a live session was learnt with on this loop.
    func stickyServerID(_ learn: StickyLearn, session: [UInt8]) -> [UInt8]? {
        let now = Int64(eventLoop.now.uptimeNanoseconds / 1_000_000)
        return withStickyTable(learn) { $0.serverID(of: session, now: now) }
    }

    /// Learns on this loop and tells the other loops what they need to know.
    func stickyLearn(_ learn: StickyLearn, session: [UInt8], serverID: [UInt8], create: Bool) {
        let now = Int64(eventLoop.now.uptimeNanoseconds / 1_000_000)
        let change = withStickyTable(learn) { $0.learn(session, serverID: serverID, create: create, now: now) }
        guard case .share(let id, let lastUsed) = change else { return }
        if learn.sync { stickySync?.share(zone: learn.zone, session: session, serverID: id) }
        for sibling in siblings where sibling.eventLoop !== eventLoop {
            sibling.eventLoop.execute {
                sibling.value.withStickyTable(learn) { $0.adopt(session, serverID: id, lastUsed: lastUsed) }
            }
        }
    }

    /// The loop's table for the zone, made (or remade, when its size or timeout changed) on first use.
    func withStickyTable<Result>(_ learn: StickyLearn, _ body: (inout StickySessionTable) -> Result) -> Result {
        let fresh = StickySessionTable(capacity: learn.capacity, timeoutMilliseconds: learn.timeout.milliseconds)
        if let table = stickySessions[learn.zone],
            table.capacity != fresh.capacity || table.timeoutMilliseconds != fresh.timeoutMilliseconds
        {
            stickySessions[learn.zone] = fresh
        }
        return body(&stickySessions[learn.zone, default: fresh])
    }
}
