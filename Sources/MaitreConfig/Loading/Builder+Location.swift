extension ConfigBuilder {
    /// `location [=|~|~*|^~] URI { }`, nested ones included, with nginx's placement checks.
    func applyLocation(_ directive: Directive, parent: LocationDraft?) throws(ConfigError) -> LocationDraft {
        let location = try makeLocation(directive)
        if let parent {
            if parent.isExact {
                throw ConfigError(
                    "location \"\(location.name)\" cannot be inside the exact location \"\(parent.name)\"",
                    at: directive.location)
            }
            if location.isStatic && !location.name.hasPrefix(parent.name) {
                throw ConfigError(
                    "location \"\(location.name)\" is outside location \"\(parent.name)\"", at: directive.location)
            }
        }
        try walk(directive.block!, in: .location) { (directive) throws(ConfigError) in
            switch directive.name {
            case "location":
                location.children.append(try applyLocation(directive, parent: location))
            case "proxy_pass":
                if location.proxyPass != nil { throw Self.duplicate(directive) }
                location.proxyPass = try parseProxyPass(directive, in: location)
                location.checkStatus = nil
            case "metrics":
                location.metrics = true
            case "status":
                location.statusPage = true
            case "api":
                location.api = try Self.parseAPI(directive)
            case "stub_status":
                // nginx ≥ 1.7.5 takes no argument; an old `stub_status on;` is accepted, as nginx accepts it.
                location.stubStatus = true
            case "check_status":
                let written = directive.arguments.first ?? "html"
                guard let format = CheckStatusFormat(rawValue: written) else {
                    throw ConfigError("invalid check format \"\(written)\"", at: directive.location)
                }
                location.checkStatus = format
            case "return":
                let action = try parseReturn(directive)
                if location.returnAction == nil { location.returnAction = action }
            default:
                try applySetting(directive, to: &location.layer)
            }
        }
        return location
    }

    /// nginx Plus's `api [write=on|off]` (write defaults to off).
    static func parseAPI(_ directive: Directive) throws(ConfigError) -> APISettings {
        guard let argument = directive.arguments.first else { return APISettings(write: false) }
        switch argument {
        case "write=on": return APISettings(write: true)
        case "write=off": return APISettings(write: false)
        default: throw ConfigError("invalid parameter \"\(argument)\"", at: directive.location)
        }
    }

    private func makeLocation(_ directive: Directive) throws(ConfigError) -> LocationDraft {
        let modifier: String
        let uri: String
        if directive.arguments.count == 2 {
            modifier = directive.arguments[0]
            uri = directive.arguments[1]
            guard ["=", "^~", "~", "~*"].contains(modifier) else {
                throw ConfigError("invalid location modifier \"\(modifier)\"", at: directive.location)
            }
        } else {
            // nginx also reads the modifier glued to the URI: `location =/x`, `location ~*\.png$`.
            let written = directive.arguments[0]
            if written.hasPrefix("=") {
                (modifier, uri) = ("=", String(written.dropFirst()))
            } else if written.hasPrefix("^~") {
                (modifier, uri) = ("^~", String(written.dropFirst(2)))
            } else if written.hasPrefix("~*") {
                (modifier, uri) = ("~*", String(written.dropFirst(2)))
            } else if written.hasPrefix("~") {
                (modifier, uri) = ("~", String(written.dropFirst()))
            } else {
                (modifier, uri) = ("", written)
            }
        }

        switch modifier {
        case "=":
            return LocationDraft(name: uri, kind: .exact, match: .exact(uri), source: directive.location)
        case "^~":
            return LocationDraft(
                name: uri, kind: .prefixStoppingRegex, match: .prefix(uri, stopsRegexSearch: true),
                source: directive.location)
        case "~", "~*":
            let regex: LocationRegex
            do {
                regex = try LocationRegex(pattern: uri, caseInsensitive: modifier == "~*")
            } catch {
                throw ConfigError("invalid regular expression \"\(uri)\": \(error)", at: directive.location)
            }
            return LocationDraft(name: uri, kind: .regex, match: .regex(regex), source: directive.location)
        default:
            if uri.hasPrefix("@") {
                throw ConfigError("named locations are not supported (\"\(uri)\")", at: directive.location)
            }
            return LocationDraft(
                name: uri, kind: .prefix, match: .prefix(uri, stopsRegexSearch: false), source: directive.location)
        }
    }

    // MARK: proxy_pass

    private func parseProxyPass(_ directive: Directive, in location: LocationDraft) throws(ConfigError) -> ProxyPassDraft {
        let url = directive.arguments[0]
        if url.contains("$") {
            throw ConfigError("variables in \"proxy_pass\" are not supported", at: directive.location)
        }
        let lowered = url.lowercased()
        if lowered.hasPrefix("https://") {
            throw ConfigError(
                "https protocol in \"proxy_pass\" is not supported (maitred talks plain HTTP to upstreams)",
                at: directive.location)
        }
        guard lowered.hasPrefix("http://") else { throw ConfigError("invalid URL prefix", at: directive.location) }
        let rest = String(url.dropFirst(7))
        if rest.lowercased().hasPrefix("unix:") {
            throw ConfigError("unix domain sockets are not supported in upstream \"\(rest)\"", at: directive.location)
        }
        let address: ParsedAddress
        switch AddressSyntax.parse(rest, mode: .proxyPass) {
        case .success(let parsed): address = parsed
        case .failure(let error):
            throw ConfigError("\(error.text) in upstream \"\(rest)\"", at: directive.location)
        }
        if location.kind == .regex && address.uri != nil {
            throw ConfigError(
                "\"proxy_pass\" cannot have URI part in location given by regular expression, "
                    + "or inside named location, or inside \"if\" statement, or inside \"limit_except\" block",
                at: directive.location)
        }
        let port = address.ports?.lowerBound
        let index = try addUpstreamEntry(
            host: address.host, port: port ?? 80, hasNoPort: port == nil, isBlock: false, at: directive.location)
        // ngx_http_proxy_set_vars: the Host sent is the host as written, with the port only when it is not 80.
        var proxyHost = address.host
        if let port, port != 80, let portText = address.portText { proxyHost += ":" + portText }
        return ProxyPassDraft(upstreamIndex: index, proxyHost: proxyHost, uri: address.uri, source: directive.location)
    }

    // MARK: after the http block

    /// Merges each location over its parent (pre-order, as ngx_http_merge_locations) and builds the model.
    func buildLocations(
        _ drafts: [LocationDraft], parent: SettingsLayer, checkLocation: SourceLocation
    ) throws(ConfigError) -> [Location] {
        var locations: [Location] = []
        for draft in drafts {
            let layer = draft.layer.merged(over: parent)
            let settings = try layer.resolved(checkLocation: checkLocation)
            let children = try buildLocations(draft.children, parent: layer, checkLocation: checkLocation)
            var handler: LocationHandler?
            if let action = draft.returnAction {
                handler = .return(action)
            } else if let format = draft.checkStatus {
                handler = .checkStatus(format)
            } else if draft.stubStatus {
                handler = .stubStatus
            } else if draft.metrics {
                handler = .metrics
            } else if draft.statusPage {
                handler = .statusPage
            } else if let api = draft.api {
                handler = .api(api)
            } else if let proxyPass = draft.proxyPass {
                handler = .proxyPass(
                    ProxyPass(
                        upstreamName: upstreamEntries[proxyPass.upstreamIndex].upstream!.name,
                        proxyHost: proxyPass.proxyHost, uri: proxyPass.uri))
            }
            locations.append(
                Location(match: draft.match, children: children, handler: handler, settings: settings,
                         source: draft.source))
        }
        return locations
    }

    /// ngx_http_join_exact_locations: two `=` of one name, or two prefix locations (`^~` or not) of one name, clash.
    /// The one reported is the later of the pair in nginx's sorted order.
    func checkDuplicateLocations(_ drafts: [LocationDraft]) throws(ConfigError) {
        let sorted = drafts.enumerated().filter { $0.element.isStatic }.sorted { a, b in
            let left = Array(a.element.name.utf8)
            let right = Array(b.element.name.utf8)
            if left != right { return left.lexicographicallyPrecedes(right) }
            // An exact match sorts before the inclusive one of the same name; otherwise written order.
            if a.element.isExact != b.element.isExact { return a.element.isExact }
            return a.offset < b.offset
        }.map(\.element)
        for (first, second) in zip(sorted, sorted.dropFirst())
        where first.name == second.name && first.isExact == second.isExact {
            throw ConfigError("duplicate location \"\(second.name)\"", at: second.source)
        }
        for draft in drafts { try checkDuplicateLocations(draft.children) }
    }
}
