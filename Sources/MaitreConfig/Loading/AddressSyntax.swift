/// `host[:port][/uri]` as ngx_parse_url reads it for `listen`, upstream `server` and `proxy_pass`. Errors are nginx's
/// short texts ("invalid port", "no host", ...), which callers wrap the way each directive does.
struct ParsedAddress: Equatable {
    /// As written; IPv6 keeps its brackets (`[::1]`), as nginx keeps them in the upstream host name.
    var host: String
    /// The port or, for `listen`, the port range written; nil when none was given (the default port applies).
    var ports: ClosedRange<Int>?
    /// The text of the port as written (`$proxy_host` uses it).
    var portText: String?
    /// `/uri` or `?args` after the host, only where a URI is allowed (`proxy_pass`).
    var uri: String?
    /// `listen 8080` names no host: the wildcard address.
    var isPortOnly = false

    var isIPv6: Bool { host.hasPrefix("[") }
    /// The host without IPv6 brackets, for resolving.
    var bareHost: String { isIPv6 ? String(host.dropFirst().dropLast()) : host }
}

enum AddressSyntax {
    enum Mode { case listen, upstreamServer, proxyPass }

    static func parse(_ text: String, mode: Mode) -> Result<ParsedAddress, AddressError> {
        text.hasPrefix("[") ? parseIPv6(text, mode: mode) : parseIPv4OrName(text, mode: mode)
    }

    struct AddressError: Error, Equatable {
        let text: String
    }

    private static func fail(_ text: String) -> Result<ParsedAddress, AddressError> { .failure(AddressError(text: text)) }

    /// `N` or, for listen, `N-M`; nginx's checks and messages.
    private static func parsePorts(_ text: Substring, allowRange: Bool) -> Result<ClosedRange<Int>, AddressError> {
        var first = text
        var last: Int?
        if allowRange, let dash = text.firstIndex(of: "-") {
            guard let n = Units.integer(String(text[text.index(after: dash)...])), (1...65535).contains(n) else {
                return .failure(AddressError(text: "invalid port"))
            }
            last = n
            first = text[..<dash]
        }
        guard let n = Units.integer(String(first)), (1...65535).contains(n) else {
            return .failure(AddressError(text: "invalid port"))
        }
        if let last {
            if n > last { return .failure(AddressError(text: "invalid port range")) }
            return .success(n...last)
        }
        return .success(n...n)
    }

    private static func parseIPv4OrName(_ text: String, mode: Mode) -> Result<ParsedAddress, AddressError> {
        var hostEnd = text.endIndex
        var uri: String?
        let colon = text.firstIndex(of: ":")
        var uriStart = text.firstIndex(of: "/")
        if let question = text.firstIndex(of: "?"), uriStart == nil || question < uriStart! { uriStart = question }

        var portIndex = colon
        if let uriStart {
            guard mode == .proxyPass else { return fail("invalid host") }
            uri = String(text[uriStart...])
            hostEnd = uriStart
            if let c = colon, uriStart < c { portIndex = nil }
        }

        var result = ParsedAddress(host: "", ports: nil, portText: nil, uri: uri)
        if let portIndex {
            let portText = text[text.index(after: portIndex)..<hostEnd]
            switch parsePorts(portText, allowRange: mode == .listen) {
            case .success(let ports):
                result.ports = ports
                result.portText = String(portText)
            case .failure(let error):
                return .failure(error)
            }
            hostEnd = portIndex
        } else if uri == nil && mode == .listen {
            // `listen 8080` (or `8000-8010`): the whole value is a port when it reads as a number.
            let whole = Substring(text)
            let numericPart = whole.firstIndex(of: "-").map { whole[..<$0] } ?? whole
            let rangeEnd = whole.firstIndex(of: "-").map { whole[whole.index(after: $0)...] }
            let looksLikePort = Units.integer(String(numericPart)) != nil
                && (rangeEnd == nil || Units.integer(String(rangeEnd!)) != nil)
            if looksLikePort {
                switch parsePorts(whole, allowRange: true) {
                case .success(let ports):
                    result.ports = ports
                    result.portText = text
                    result.isPortOnly = true
                    return .success(result)
                case .failure(let error):
                    return .failure(error)
                }
            }
        }

        let host = String(text[..<hostEnd])
        if host.isEmpty { return fail("no host") }
        result.host = host
        return .success(result)
    }

    private static func parseIPv6(_ text: String, mode: Mode) -> Result<ParsedAddress, AddressError> {
        guard let close = text.firstIndex(of: "]") else { return fail("invalid host") }
        var last = text.endIndex
        var result = ParsedAddress(host: "", ports: nil, portText: nil, uri: nil)
        let afterBracket = text.index(after: close)
        if let slash = text[afterBracket...].firstIndex(of: "/") {
            guard mode == .proxyPass else { return fail("invalid host") }
            result.uri = String(text[slash...])
            last = slash
        }
        if afterBracket < last {
            guard text[afterBracket] == ":" else { return fail("invalid host") }
            let portText = text[text.index(after: afterBracket)..<last]
            switch parsePorts(portText, allowRange: mode == .listen) {
            case .success(let ports):
                result.ports = ports
                result.portText = String(portText)
            case .failure(let error):
                return .failure(error)
            }
        }
        let inside = String(text[text.index(after: text.startIndex)..<close])
        if inside.isEmpty { return fail("no host") }
        guard IPAddress.isIPv6Literal(inside) else { return fail("invalid IPv6 address") }
        result.host = "[" + inside + "]"
        return .success(result)
    }
}
