/// A configuration value that may contain variables (`"$host:$server_port"`), parsed once at load.
public struct VariableTemplate: Sendable, Equatable, CustomStringConvertible {
    public enum Part: Sendable, Equatable {
        case literal(String)
        case variable(Variable)
    }

    public var parts: [Part]
    public init(parts: [Part]) { self.parts = parts }

    public var isEmpty: Bool { parts.isEmpty }
    /// The text when there are no variables.
    public var constantValue: String? {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let s): out += s
            case .variable: return nil
            }
        }
        return out
    }

    public var description: String {
        parts.map { part -> String in
            switch part {
            case .literal(let s): return s
            case .variable(let v): return "${\(v.name)}"
            }
        }.joined()
    }
}

/// The variables maitred knows (nginx's names and meanings).
public enum Variable: Sendable, Equatable, Hashable {
    case host
    case remoteAddr
    case remotePort
    case serverAddr
    case serverPort
    case serverName
    case scheme
    case requestMethod
    case requestURI
    case uri
    case args
    case proxyHost
    case proxyAddXForwardedFor
    /// `$http_NAME`: NAME lowercased with `_` standing for `-`, as nginx matches it.
    case httpHeader(String)

    public var name: String {
        switch self {
        case .host: return "host"
        case .remoteAddr: return "remote_addr"
        case .remotePort: return "remote_port"
        case .serverAddr: return "server_addr"
        case .serverPort: return "server_port"
        case .serverName: return "server_name"
        case .scheme: return "scheme"
        case .requestMethod: return "request_method"
        case .requestURI: return "request_uri"
        case .uri: return "uri"
        case .args: return "args"
        case .proxyHost: return "proxy_host"
        case .proxyAddXForwardedFor: return "proxy_add_x_forwarded_for"
        case .httpHeader(let h): return "http_" + h
        }
    }

    /// Looks a variable up by its name without `$`; nil when unknown.
    public init?(name: String) {
        switch name {
        case "host": self = .host
        case "remote_addr": self = .remoteAddr
        case "remote_port": self = .remotePort
        case "server_addr": self = .serverAddr
        case "server_port": self = .serverPort
        case "server_name": self = .serverName
        case "scheme": self = .scheme
        case "request_method": self = .requestMethod
        case "request_uri": self = .requestURI
        case "uri": self = .uri
        case "args", "query_string": self = .args
        case "proxy_host": self = .proxyHost
        case "proxy_add_x_forwarded_for": self = .proxyAddXForwardedFor
        default:
            if name.hasPrefix("http_"), name.count > 5 {
                self = .httpHeader(String(name.dropFirst(5)).lowercased())
            } else {
                return nil
            }
        }
    }
}
