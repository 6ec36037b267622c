extension ServerName {
    /// Classifies a lowercased `server_name` value as ngx_hash_add_key does; nil for what nginx calls an
    /// "invalid server name or wildcard" (a `*` elsewhere than a whole first or last label, `..`, two `*`).
    init?(parsing name: String) {
        let bytes = Array(name.utf8)
        if bytes.filter({ $0 == UInt8(ascii: "*") }).count > 1 { return nil }
        if name.contains("..") || bytes.contains(0) { return nil }
        if bytes.count > 1 && bytes[0] == UInt8(ascii: ".") {
            self = .leadingWildcard(suffix: name, matchesBareDomain: true)
        } else if bytes.count > 2 && name.hasPrefix("*.") {
            self = .leadingWildcard(suffix: String(name.dropFirst()), matchesBareDomain: false)
        } else if bytes.count > 2 && name.hasSuffix(".*") {
            self = .trailingWildcard(prefix: String(name.dropLast()))
        } else if bytes.contains(UInt8(ascii: "*")) {
            return nil
        } else {
            self = .exact(name)
        }
    }
}

/// Server names of one address, first writer wins, looked up in nginx's order: exact, longest leading wildcard,
/// longest trailing wildcard.
struct ServerNameIndex<Value: Sendable>: Sendable {
    private var exact: [String: Value] = [:]
    /// Keyed by suffix (`.example.com`), with whether the bare domain also matched.
    private var leading: [String: Value] = [:]
    private var trailing: [String: Value] = [:]

    /// False when the name (or, for `.example.com`, the bare `example.com`) is already taken: nginx's
    /// "conflicting server name", the later one ignored.
    mutating func insert(_ name: ServerName, value: Value) -> Bool {
        switch name {
        case .exact(let host):
            guard exact[host] == nil else { return false }
            exact[host] = value
        case .leadingWildcard(let suffix, let matchesBareDomain):
            if matchesBareDomain {
                let bare = String(suffix.dropFirst())
                guard exact[bare] == nil else { return false }
                exact[bare] = value
            }
            guard leading[suffix] == nil else { return false }
            leading[suffix] = value
        case .trailingWildcard(let prefix):
            guard trailing[prefix] == nil else { return false }
            trailing[prefix] = value
        }
        return true
    }

    /// `host` must already be normalised (lowercase, no port, no trailing dot).
    func lookup(_ host: String) -> Value? {
        if let value = exact[host] { return value }
        var best: (length: Int, value: Value)?
        for (suffix, value) in leading where host.count > suffix.count && host.hasSuffix(suffix) {
            if best == nil || suffix.count > best!.length { best = (suffix.count, value) }
        }
        if let best { return best.value }
        for (prefix, value) in trailing where host.count > prefix.count && host.hasPrefix(prefix) {
            if best == nil || prefix.count > best!.length { best = (prefix.count, value) }
        }
        return best?.value
    }
}
