/// The outcome of nginx's location lookup.
public enum LocationLookup: Sendable {
    case location(Location)
    /// The URI is a prefix location's name without its trailing slash, and that location proxies: nginx answers
    /// 301 to the URI with `/` appended (ngx_http_core_find_static_location's auto_redirect).
    case redirectAddingSlash(Location)
    /// Nothing matched: nginx serves the request with the server's settings and, having no handler, 404s.
    case none
}

/// nginx's location selection (ngx_http_core_find_location) over one server's locations.
public struct LocationMatcher: Sendable {
    private let locations: [Location]

    /// Top-level locations of one server; nested children are searched too, as nginx does.
    public init(locations: [Location]) {
        self.locations = locations
    }

    /// nginx's order: `=` exact match wins at once; else longest prefix match; if it is `^~` stop; else regexes (`~`, `~*`) in written
    /// order (for nested: nginx checks the nested regexes of the longest-prefix location first); first regex match wins; else the longest prefix.
    /// Returns nil when nothing matches (nginx then 404s). The trailing-slash redirect is ignored here; see `lookup(path:)`.
    public func match(path: String) -> Location? {
        var search = Search(path: path, redirects: false)
        _ = search.find(in: locations)
        return search.current
    }

    /// As `match(path:)`, also reporting nginx's 301 for `/name` when `location /name/` proxies.
    public func lookup(path: String) -> LocationLookup {
        var search = Search(path: path, redirects: true)
        let outcome = search.find(in: locations)
        guard let current = search.current else { return .none }
        return outcome == .redirect ? .redirectAddingSlash(current) : .location(current)
    }

    /// A port of the recursion in ngx_http_core_find_location, `current` playing r->loc_conf.
    private struct Search {
        enum Outcome { case exact, redirect, inclusive, declined }

        let path: String
        let redirects: Bool
        var current: Location?

        mutating func find(in level: [Location]) -> Outcome {
            var stopsRegex = false
            var outcome = findStatic(in: level)
            if outcome == .inclusive, let prefix = current {
                if case .prefix(_, let stops) = prefix.match { stopsRegex = stops }
                if !prefix.children.isEmpty { outcome = find(in: prefix.children) }
            }
            if outcome == .exact || outcome == .redirect { return outcome }

            if !stopsRegex {
                // By index: iterating the array would copy every Location.
                for index in level.indices {
                    guard case .regex(let regex) = level[index].match, regex.matches(path) else { continue }
                    current = level[index]
                    _ = find(in: level[index].children)
                    return .exact
                }
            }
            return outcome
        }

        /// The static tree walk, flattened: an equal `=` or prefix name, else nginx's auto-redirect, else the
        /// longest prefix.
        private mutating func findStatic(in level: [Location]) -> Outcome {
            // Indices and UTF-8 comparisons: no Location is copied and no string is built while searching.
            let pathBytes = path.utf8
            var equalPrefix: Int?
            var redirect: Int?
            var longest: (length: Int, index: Int)?
            for index in level.indices {
                switch level[index].match {
                case .exact(let name):
                    if name == path {
                        current = level[index]
                        return .exact
                    }
                    let nameBytes = name.utf8
                    if redirects, redirect == nil, nameBytes.count == pathBytes.count + 1,
                        nameBytes.last == UInt8(ascii: "/"), nameBytes.starts(with: pathBytes),
                        Self.autoRedirects(level[index])
                    {
                        redirect = index
                    }
                case .prefix(let name, _):
                    let nameBytes = name.utf8
                    if nameBytes.count == pathBytes.count {
                        if equalPrefix == nil && nameBytes.elementsEqual(pathBytes) { equalPrefix = index }
                    } else if nameBytes.count < pathBytes.count {
                        if pathBytes.starts(with: nameBytes), longest.map({ nameBytes.count > $0.length }) ?? true {
                            longest = (nameBytes.count, index)
                        }
                    } else if redirects, redirect == nil, nameBytes.count == pathBytes.count + 1,
                        nameBytes.last == UInt8(ascii: "/"), nameBytes.starts(with: pathBytes),
                        Self.autoRedirects(level[index])
                    {
                        redirect = index
                    }
                case .regex:
                    continue
                }
            }
            if let equalPrefix {
                current = level[equalPrefix]
                return .inclusive
            }
            if let redirect {
                current = level[redirect]
                return .redirect
            }
            guard let longest else { return .declined }
            current = level[longest.index]
            return .inclusive
        }

        private static func name(of location: Location) -> String? {
            switch location.match {
            case .exact(let name), .prefix(let name, _): return name
            case .regex: return nil
            }
        }

        /// proxy_pass sets auto_redirect on a location whose name ends with `/`.
        private static func autoRedirects(_ location: Location) -> Bool {
            guard case .proxyPass = location.handler, let name = name(of: location) else { return false }
            return name.hasSuffix("/")
        }
    }
}
