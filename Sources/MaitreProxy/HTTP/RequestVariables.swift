import MaitreConfig

/// The facts about one client request that nginx variables read, gathered once per request.
struct RequestVariables {
    var request: ClientRequest
    var remoteAddress: String
    var remotePort: String
    var serverAddress: String
    var serverPort: String
    var serverName: String
    /// `$host`: the Host header's name part, lowercased; else the server name.
    var host: String
    /// `$uri`: the normalised path.
    var uri: String
    /// `$args`: the query string without `?`.
    var args: String?
    var proxyHost: String = ""

    func value(of variable: Variable) -> String {
        switch variable {
        case .host: return host
        case .remoteAddr: return remoteAddress
        case .remotePort: return remotePort
        case .serverAddr: return serverAddress
        case .serverPort: return serverPort
        case .serverName: return serverName
        case .scheme: return "http"
        case .requestMethod: return request.methodName
        case .requestURI: return request.uri
        case .uri: return uri
        case .args: return args ?? ""
        case .proxyHost: return proxyHost
        case .proxyAddXForwardedFor:
            let existing = request.values(named: "x-forwarded-for")
            if existing.isEmpty { return remoteAddress }
            return existing.joined(separator: ", ") + ", " + remoteAddress
        case .httpHeader(let name):
            // nginx: `$http_x_real_ip` reads `X-Real-IP`; several headers are joined with ", " (cookies with "; ").
            let headerName = name.replacingUnderscoresWithDashes()
            let values = request.values(named: headerName)
            return values.joined(separator: headerName == "cookie" ? "; " : ", ")
        }
    }

    func evaluate(_ template: VariableTemplate) -> String {
        if template.parts.count == 1, case .literal(let s) = template.parts[0] { return s }
        var out = ""
        for part in template.parts {
            switch part {
            case .literal(let s): out += s
            case .variable(let v): out += value(of: v)
            }
        }
        return out
    }

    /// `$host` as nginx derives it: Host header without port, lowercased, trailing dot removed.
    static func hostName(fromHeader header: String?) -> String? {
        guard let header, !header.isEmpty else { return nil }
        var utf8 = Substring(header).utf8
        if utf8.first == UInt8(ascii: "[") {
            if let end = utf8.firstIndex(of: UInt8(ascii: "]")) { utf8 = utf8[...end] }
        } else if let colon = utf8.lastIndex(of: UInt8(ascii: ":")) {
            utf8 = utf8[..<colon]
        }
        if utf8.last == UInt8(ascii: ".") { utf8 = utf8.dropLast() }
        let host = Substring(utf8)
        // Most Host headers are already lowercase: keep the bytes as they are then.
        if utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) { return host.lowercased() }
        return String(host)
    }
}

extension String {
    func replacingUnderscoresWithDashes() -> String {
        String(map { $0 == "_" ? "-" : $0 })
    }
}
