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
///
/// The locations are frozen at init into levels of nodes with their names as bytes, statics and regexes apart, so
/// a lookup compares bytes and copies no `Location` or match enum.
public struct LocationMatcher: Sendable {
    private let top: Level

    /// Top-level locations of one server; nested children are searched too, as nginx does.
    public init(locations: [Location]) {
        self.top = Level(locations)
    }

    /// nginx's order: `=` exact match wins at once; else longest prefix match; if it is `^~` stop; else regexes (`~`, `~*`) in written
    /// order (for nested: nginx checks the nested regexes of the longest-prefix location first); first regex match wins; else the longest prefix.
    /// Returns nil when nothing matches (nginx then 404s). The trailing-slash redirect is ignored here; see `lookup(path:)`.
    public func match(path: String) -> Location? {
        var search = Search(path: path, redirects: false)
        _ = search.find(in: top)
        return search.current?.location
    }

    /// As `match(path:)`, also reporting nginx's 301 for `/name` when `location /name/` proxies.
    public func lookup(path: String) -> LocationLookup {
        var search = Search(path: path, redirects: true)
        let outcome = search.find(in: top)
        guard let current = search.current?.location else { return .none }
        return outcome == .redirect ? .redirectAddingSlash(current) : .location(current)
    }

    /// One level of the tree: the static locations (`=`, prefix, `^~`) and the regex ones, each in written order.
    private struct Level: Sendable {
        let statics: [Node]
        let regexes: [Node]

        var isEmpty: Bool { statics.isEmpty && regexes.isEmpty }

        init(_ locations: [Location]) {
            var statics: [Node] = []
            var regexes: [Node] = []
            for location in locations {
                let node = Node(location)
                if node.regex != nil { regexes.append(node) } else { statics.append(node) }
            }
            self.statics = statics
            self.regexes = regexes
        }
    }

    private final class Node: Sendable {
        let location: Location
        let name: [UInt8]
        let isExact: Bool
        let stopsRegexSearch: Bool
        let regex: LocationRegex?
        /// proxy_pass sets auto_redirect on a location whose name ends with `/`.
        let autoRedirects: Bool
        let children: Level

        init(_ location: Location) {
            self.location = location
            switch location.match {
            case .exact(let name):
                self.name = Array(name.utf8)
                isExact = true
                stopsRegexSearch = false
                regex = nil
            case .prefix(let name, let stops):
                self.name = Array(name.utf8)
                isExact = false
                stopsRegexSearch = stops
                regex = nil
            case .regex(let compiled):
                name = []
                isExact = false
                stopsRegexSearch = false
                regex = compiled
            }
            if case .proxyPass = location.handler, name.last == UInt8(ascii: "/") {
                autoRedirects = true
            } else {
                autoRedirects = false
            }
            children = Level(location.children)
        }
    }

    /// A port of the recursion in ngx_http_core_find_location, `current` playing r->loc_conf.
    private struct Search {
        enum Outcome { case exact, redirect, inclusive, declined }

        let path: String
        let redirects: Bool
        var current: Node?

        mutating func find(in level: Level) -> Outcome {
            var stopsRegex = false
            var outcome = findStatic(in: level)
            if outcome == .inclusive, let prefix = current {
                stopsRegex = prefix.stopsRegexSearch
                if !prefix.children.isEmpty { outcome = find(in: prefix.children) }
            }
            if outcome == .exact || outcome == .redirect { return outcome }

            if !stopsRegex {
                for node in level.regexes where node.regex!.matches(path) {
                    current = node
                    _ = find(in: node.children)
                    return .exact
                }
            }
            return outcome
        }

        /// The static tree walk, flattened: an equal `=` or prefix name, else nginx's auto-redirect, else the
        /// longest prefix.
        private mutating func findStatic(in level: Level) -> Outcome {
            guard !level.statics.isEmpty else { return .declined }
            var path = path
            return path.withUTF8 { pathBytes in
                var equalPrefix: Node?
                var redirect: Node?
                var longest: Node?
                for node in level.statics {
                    let name = node.name
                    if name.count == pathBytes.count {
                        guard name.elementsEqual(pathBytes) else { continue }
                        if node.isExact {
                            current = node
                            return .exact
                        }
                        if equalPrefix == nil { equalPrefix = node }
                    } else if name.count < pathBytes.count {
                        if !node.isExact, longest.map({ name.count > $0.name.count }) ?? true,
                            name.elementsEqual(UnsafeBufferPointer(rebasing: pathBytes[0..<name.count]))
                        {
                            longest = node
                        }
                    } else if redirects, redirect == nil, node.autoRedirects, name.count == pathBytes.count + 1,
                        name.starts(with: pathBytes)
                    {
                        redirect = node
                    }
                }
                if let equalPrefix {
                    current = equalPrefix
                    return .inclusive
                }
                if let redirect {
                    current = redirect
                    return .redirect
                }
                guard let longest else { return .declined }
                current = longest
                return .inclusive
            }
        }
    }
}
