import MaitreConfig

/// The facts about one client request that nginx variables read, gathered once per request.
struct RequestVariables {
    var request: ClientRequest
    var addresses: ConnectionAddresses
    var serverName: String
    /// `$host`: the Host header's name part, lowercased; else the server name.
    var host: String
    /// `$uri`: the normalised path.
    var uri: String
    /// `$args`: the query string without `?`.
    var args: String?
    var proxyHost: String = ""
    /// Where this request's `$request_id` is kept (nil: an id of its own each time, for tests).
    var requestID: RequestIDSlot? = nil

    func value(of variable: Variable) -> String {
        switch variable {
        case .host: return host
        case .remoteAddr: return addresses.remoteIP
        case .remotePort: return addresses.remotePort
        case .serverAddr: return addresses.localIP
        case .serverPort: return addresses.localPort
        case .serverName: return serverName
        case .scheme: return "http"
        case .requestMethod: return request.methodName
        case .requestURI: return request.uri
        case .uri: return uri
        case .args: return args ?? ""
        case .proxyHost: return proxyHost
        case .proxyAddXForwardedFor:
            let existing = request.values(named: "x-forwarded-for")
            if existing.isEmpty { return addresses.remoteIP }
            return existing.joined(separator: ", ") + ", " + addresses.remoteIP
        case .httpHeader(let name):
            // nginx: `$http_x_real_ip` reads `X-Real-IP` (and `X_Real_IP` where underscores are allowed); several
            // headers are joined with ", " (cookies with "; ").
            let values = request.values(named: name, dashAsUnderscore: true)
            return values.joined(separator: name == "cookie" ? "; " : ", ")
        case .request:
            return request.record.requestLine
        case .argument(let name):
            return RequestFields.argument(name, in: args ?? "") ?? ""
        case .cookie(let name):
            return RequestFields.cookie(name, in: request.values(named: "cookie")) ?? ""
        case .remoteUser:
            return request.values(named: "authorization").first.flatMap(RequestFields.basicUser) ?? ""
        case .requestID:
            return requestID?.get() ?? RequestIDSlot(generator: RequestIDGenerator.Shared()).get()
        case .binaryRemoteAddr:
            // Raw bytes in a header value: each byte as the character of that code point (ISO 8859-1).
            return String(String.UnicodeScalarView(addresses.remoteBytes.map { Unicode.Scalar($0) }))
        case .requestLength, .timeLocal, .timeISO8601, .msec, .status, .bodyBytesSent, .requestTime, .connection,
            .connectionRequests, .upstreamAddr, .upstreamStatus, .upstreamResponseTime, .upstreamConnectTime,
            .upstreamHeaderTime, .bytesSent, .sentHTTPHeader, .upstreamBytesReceived, .upstreamBytesSent,
            .upstreamResponseLength:
            return ""  // known once the request is over: the access log's (`AccessLogLine`)
        case .protocolName, .bytesReceived, .sessionTime, .upstreamFirstByteTime, .upstreamSessionTime:
            return ""  // the stream module's: the configuration refuses them in http
        case .proxyProtocolAddr, .proxyProtocolPort, .proxyProtocolServerAddr, .proxyProtocolServerPort:
            return addresses.proxyProtocolValue(variable) ?? ""
        }
    }

    /// The template's value as bytes: `$binary_remote_addr` gives its raw bytes (as nginx's hash keys see them),
    /// everything else its UTF-8.
    func evaluateBytes(_ template: VariableTemplate) -> [UInt8] {
        var out: [UInt8] = []
        for part in template.parts {
            switch part {
            case .literal(let s): out += s.utf8
            case .variable(.binaryRemoteAddr): out += addresses.remoteBytes
            case .variable(let v): out += value(of: v).utf8
            }
        }
        return out
    }

    func evaluate(_ template: VariableTemplate) -> String {
        if template.parts.count == 1 {
            // The usual `proxy_set_header Host $host;`: one part, no string to build.
            switch template.parts[0] {
            case .literal(let s): return s
            case .variable(let v): return value(of: v)
            }
        }
        var out = ""
        for part in template.parts {
            switch part {
            case .literal(let s): out += s
            case .variable(let v): out += value(of: v)
            }
        }
        return out
    }
}
