/// How `sticky learn … sync` sessions are kept in Redis and told between maitred instances. Pure.
///
/// - Each session is one key, `PREFIX sticky:ZONE:SESSION`, whose value is `LASTUSED SERVERID` (LASTUSED in
///   milliseconds since the Unix epoch) and whose TTL is the zone's `timeout`: Redis forgets what nobody uses.
///   An instance that starts (or reconnects) reads the zone's keys with SCAN and MGET.
/// - Each learning is also published on the channel `PREFIX sticky:ZONE` as
///   `m1 INSTANCE LASTUSED IDLENGTH SERVERID SESSION`, so running instances hear of it at once; they subscribe
///   to the pattern `PREFIX sticky:*` and ignore their own messages.
///
/// SESSION and SERVERID are bytes as the server and the configuration gave them; nothing here trusts them.
public enum StickySyncRecord {
    public struct Learnt: Sendable, Equatable {
        public var session: [UInt8]
        public var serverID: [UInt8]
        /// Milliseconds since the Unix epoch.
        public var lastUsed: Int64

        public init(session: [UInt8], serverID: [UInt8], lastUsed: Int64) {
            self.session = session
            self.serverID = serverID
            self.lastUsed = lastUsed
        }
    }

    public static func channel(prefix: String, zone: String) -> [UInt8] { Array("\(prefix)sticky:\(zone)".utf8) }

    /// The pattern every zone's channel matches, for PSUBSCRIBE.
    public static func channelPattern(prefix: String) -> [UInt8] { Array("\(globEscaped(prefix))sticky:*".utf8) }

    /// The zone a channel is for, when it is one of this prefix's.
    public static func zone(ofChannel channel: [UInt8], prefix: String) -> String? {
        let head = Array("\(prefix)sticky:".utf8)
        guard channel.count > head.count, channel.starts(with: head) else { return nil }
        return String(decoding: channel[head.count...], as: UTF8.self)
    }

    public static func keyPrefix(prefix: String, zone: String) -> [UInt8] { Array("\(prefix)sticky:\(zone):".utf8) }

    public static func key(prefix: String, zone: String, session: [UInt8]) -> [UInt8] {
        keyPrefix(prefix: prefix, zone: zone) + session
    }

    /// SCAN's MATCH pattern for a zone's keys (the prefix and zone escaped, so `*` or `[` in them match as text).
    public static func keyPattern(prefix: String, zone: String) -> [UInt8] {
        Array("\(globEscaped(prefix))sticky:\(globEscaped(zone)):*".utf8)
    }

    public static func value(_ learnt: Learnt) -> [UInt8] { Array(String(learnt.lastUsed).utf8) + [0x20] + learnt.serverID }

    /// A key's value read back (nil when it is not one of ours).
    public static func parseValue(_ value: [UInt8], session: [UInt8]) -> Learnt? {
        guard let space = value.firstIndex(of: 0x20), let lastUsed = number(value[..<space]) else { return nil }
        let serverID = Array(value[(space + 1)...])
        guard !serverID.isEmpty, !session.isEmpty else { return nil }
        return Learnt(session: session, serverID: serverID, lastUsed: lastUsed)
    }

    public static func message(_ learnt: Learnt, instance: String) -> [UInt8] {
        var out = Array("m1 \(instance) \(learnt.lastUsed) \(learnt.serverID.count) ".utf8)
        out += learnt.serverID
        out.append(0x20)
        out += learnt.session
        return out
    }

    /// A published message: who sent it and what it learnt (nil when it is not a well-formed message).
    public static func parseMessage(_ message: [UInt8]) -> (instance: String, learnt: Learnt)? {
        var rest = message[...]
        func token() -> ArraySlice<UInt8>? {
            guard let space = rest.firstIndex(of: 0x20) else { return nil }
            let token = rest[rest.startIndex..<space]
            rest = rest[(space + 1)...]
            return token
        }
        guard let version = token(), version.elementsEqual("m1".utf8), let instance = token(), !instance.isEmpty,
            let lastUsedText = token(), let lastUsed = number(lastUsedText),
            let lengthText = token(), let length = number(lengthText), length > 0, length < rest.count
        else { return nil }
        let idEnd = rest.startIndex + Int(length)
        guard rest[idEnd] == 0x20 else { return nil }
        let serverID = Array(rest[rest.startIndex..<idEnd])
        let session = Array(rest[(idEnd + 1)...])
        guard !session.isEmpty else { return nil }
        return (String(decoding: instance, as: UTF8.self), Learnt(session: session, serverID: serverID, lastUsed: lastUsed))
    }

    /// How long ago (ms) a session was last used, as this instance's table counts it: from the sender's wall
    /// clock, clamped to 0…timeout so a skewed clock can neither revive an expired session nor make one look
    /// used in the future.
    public static func age(of learnt: Learnt, wallNow: Int64, timeout: Int64) -> Int64? {
        let age = max(0, wallNow - learnt.lastUsed)
        return age >= timeout ? nil : age
    }

    /// A non-negative decimal of 1 to 18 digits.
    static func number<Digits: Collection>(_ digits: Digits) -> Int64? where Digits.Element == UInt8 {
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var value: Int64 = 0
        for byte in digits {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + Int64(byte - 0x30)
        }
        return value
    }

    /// Redis glob syntax: `*`, `?`, `[`, `]` and `\` escaped.
    static func globEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            if "*?[]\\".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }
}
