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
    /// `$arg_NAME`: the query-string argument NAME (matched without regard to case, as nginx matches it).
    case argument(String)
    /// `$cookie_NAME`: the value of cookie NAME in the Cookie header.
    case cookie(String)
    /// `$request_length`: bytes of the request head and body received.
    case requestLength
    /// `$request_id`: 32 random hex digits, one per request.
    case requestID
    // What the access log reads once the request is over (nginx's log-phase values); see `isLogPhase`.
    case remoteUser
    case timeLocal
    case timeISO8601
    case msec
    case request
    case status
    case bodyBytesSent
    case requestTime
    case connection
    case connectionRequests
    case upstreamAddr
    case upstreamStatus
    case upstreamResponseTime
    case upstreamConnectTime
    case upstreamHeaderTime
    /// `$bytes_sent`: every byte sent to the client (head, body, chunk framing).
    case bytesSent
    /// `$sent_http_NAME`: a response header as sent to the client (NAME lowercased, `_` for `-`).
    case sentHTTPHeader(String)
    /// `$upstream_bytes_received`, `$upstream_bytes_sent`, `$upstream_response_length`: per attempt, as lists.
    case upstreamBytesReceived
    case upstreamBytesSent
    case upstreamResponseLength
    /// `$binary_remote_addr`: the client address's 4 (IPv4) or 16 (IPv6) bytes.
    case binaryRemoteAddr
    // The stream module's own.
    /// `$protocol`: `TCP` or `UDP`.
    case protocolName
    /// `$bytes_received`: bytes received from the client.
    case bytesReceived
    /// `$session_time`: the session's length in seconds with millisecond resolution.
    case sessionTime
    /// `$upstream_first_byte_time`, `$upstream_session_time`: per attempt, as lists.
    case upstreamFirstByteTime
    case upstreamSessionTime
    /// `$proxy_protocol_addr`, `$proxy_protocol_port`, `$proxy_protocol_server_addr`,
    /// `$proxy_protocol_server_port`: what the PROXY protocol header said (empty without one).
    case proxyProtocolAddr
    case proxyProtocolPort
    case proxyProtocolServerAddr
    case proxyProtocolServerPort

    /// Whether the variable exists in a context: nginx's http and stream modules define different sets.
    public func exists(in context: ProxyContext) -> Bool {
        switch self {
        case .remoteAddr, .remotePort, .binaryRemoteAddr, .serverAddr, .serverPort, .status, .bytesSent,
            .upstreamAddr, .upstreamConnectTime, .upstreamBytesSent, .upstreamBytesReceived, .timeLocal,
            .timeISO8601, .msec, .connection, .proxyProtocolAddr, .proxyProtocolPort, .proxyProtocolServerAddr,
            .proxyProtocolServerPort:
            return true
        case .protocolName, .bytesReceived, .sessionTime, .upstreamFirstByteTime, .upstreamSessionTime:
            return context == .stream
        default:
            return context == .http
        }
    }

    /// Variables whose value only exists once the request is over: in `proxy_set_header` and `return` maitred
    /// gives them empty (nginx gives some a value mid-request, such as `$request_time` so far).
    public var isLogPhase: Bool {
        switch self {
        case .host, .remoteAddr, .remotePort, .serverAddr, .serverPort, .serverName, .scheme, .requestMethod,
            .requestURI, .uri, .args, .proxyHost, .proxyAddXForwardedFor, .httpHeader, .argument, .cookie,
            .remoteUser, .requestID, .binaryRemoteAddr, .proxyProtocolAddr, .proxyProtocolPort,
            .proxyProtocolServerAddr, .proxyProtocolServerPort:
            return false
        case .requestLength, .timeLocal, .timeISO8601, .msec, .request, .status, .bodyBytesSent, .requestTime,
            .connection, .connectionRequests, .upstreamAddr, .upstreamStatus, .upstreamResponseTime,
            .upstreamConnectTime, .upstreamHeaderTime, .bytesSent, .sentHTTPHeader, .upstreamBytesReceived,
            .upstreamBytesSent, .upstreamResponseLength, .protocolName, .bytesReceived, .sessionTime,
            .upstreamFirstByteTime, .upstreamSessionTime:
            return true
        }
    }

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
        case .argument(let a): return "arg_" + a
        case .cookie(let c): return "cookie_" + c
        case .requestLength: return "request_length"
        case .requestID: return "request_id"
        case .remoteUser: return "remote_user"
        case .timeLocal: return "time_local"
        case .timeISO8601: return "time_iso8601"
        case .msec: return "msec"
        case .request: return "request"
        case .status: return "status"
        case .bodyBytesSent: return "body_bytes_sent"
        case .requestTime: return "request_time"
        case .connection: return "connection"
        case .connectionRequests: return "connection_requests"
        case .upstreamAddr: return "upstream_addr"
        case .upstreamStatus: return "upstream_status"
        case .upstreamResponseTime: return "upstream_response_time"
        case .upstreamConnectTime: return "upstream_connect_time"
        case .upstreamHeaderTime: return "upstream_header_time"
        case .bytesSent: return "bytes_sent"
        case .sentHTTPHeader(let h): return "sent_http_" + h
        case .upstreamBytesReceived: return "upstream_bytes_received"
        case .upstreamBytesSent: return "upstream_bytes_sent"
        case .upstreamResponseLength: return "upstream_response_length"
        case .binaryRemoteAddr: return "binary_remote_addr"
        case .protocolName: return "protocol"
        case .bytesReceived: return "bytes_received"
        case .sessionTime: return "session_time"
        case .upstreamFirstByteTime: return "upstream_first_byte_time"
        case .upstreamSessionTime: return "upstream_session_time"
        case .proxyProtocolAddr: return "proxy_protocol_addr"
        case .proxyProtocolPort: return "proxy_protocol_port"
        case .proxyProtocolServerAddr: return "proxy_protocol_server_addr"
        case .proxyProtocolServerPort: return "proxy_protocol_server_port"
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
        case "remote_user": self = .remoteUser
        case "time_local": self = .timeLocal
        case "time_iso8601": self = .timeISO8601
        case "msec": self = .msec
        case "request": self = .request
        case "status": self = .status
        case "body_bytes_sent": self = .bodyBytesSent
        case "request_time": self = .requestTime
        case "connection": self = .connection
        case "connection_requests": self = .connectionRequests
        case "upstream_addr": self = .upstreamAddr
        case "upstream_status": self = .upstreamStatus
        case "upstream_response_time": self = .upstreamResponseTime
        case "upstream_connect_time": self = .upstreamConnectTime
        case "upstream_header_time": self = .upstreamHeaderTime
        case "bytes_sent": self = .bytesSent
        case "upstream_bytes_received": self = .upstreamBytesReceived
        case "upstream_bytes_sent": self = .upstreamBytesSent
        case "upstream_response_length": self = .upstreamResponseLength
        case "binary_remote_addr": self = .binaryRemoteAddr
        case "request_length": self = .requestLength
        case "request_id": self = .requestID
        case "protocol": self = .protocolName
        case "bytes_received": self = .bytesReceived
        case "session_time": self = .sessionTime
        case "upstream_first_byte_time": self = .upstreamFirstByteTime
        case "upstream_session_time": self = .upstreamSessionTime
        case "proxy_protocol_addr": self = .proxyProtocolAddr
        case "proxy_protocol_port": self = .proxyProtocolPort
        case "proxy_protocol_server_addr": self = .proxyProtocolServerAddr
        case "proxy_protocol_server_port": self = .proxyProtocolServerPort
        default:
            if name.hasPrefix("sent_http_"), name.count > 10 {
                self = .sentHTTPHeader(String(name.dropFirst(10)).lowercased())
            } else if name.hasPrefix("http_"), name.count > 5 {
                self = .httpHeader(String(name.dropFirst(5)).lowercased())
            } else if name.hasPrefix("arg_"), name.count > 4 {
                self = .argument(String(name.dropFirst(4)))
            } else if name.hasPrefix("cookie_"), name.count > 7 {
                self = .cookie(String(name.dropFirst(7)))
            } else {
                return nil
            }
        }
    }
}
