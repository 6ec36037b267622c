import NIOHTTP1

/// How a request body is delimited on the wire.
enum BodyFraming: Equatable {
    case none
    case contentLength(Int)
    case chunked
}

/// nginx's checks on a request head (ngx_http_process_request_header) beyond what the parser refuses, and the
/// body framing they leave.
enum RequestValidation {
    case success(BodyFraming)
    case failure(HTTPResponseStatus)

    /// (An initializer would take its arguments owned: a copy of the request, with a retain per reference in it.)
    /// `targetHost`: an absolute-form target's host (nil for other forms); an invalid one is refused as nginx
    /// refuses it ("client sent invalid host in request line").
    static func check(
        _ request: ClientRequest, host: RequestRecord.HostCheck, targetHost: RequestRecord.HostCheck? = nil
    ) -> RequestValidation {
        let head = request.head
        if case .invalid? = targetHost { return .failure(.badRequest) }
        switch host {
        case .invalid: return .failure(.badRequest)
        case .absent where request.version == .http1_1: return .failure(.badRequest)
        case .absent, .name: break
        }
        // nginx (since 1.21.1) refuses both before any proxying: CONNECT would turn the upstream connection into
        // a tunnel, TRACE would echo credentials back.
        switch request.record.method {
        case .connect, .trace: return .failure(.methodNotAllowed)
        case .get, .head, .post, .lock, .patch, .other: break
        }
        if head.transferEncodingField != nil {
            if request.version == .http1_0 || head.contentLength != nil { return .failure(.badRequest) }
            return head.isChunked ? .success(.chunked) : .failure(.notImplemented)
        }
        if let length = head.contentLength, length > 0 { return .success(.contentLength(Int(length))) }
        return .success(.none)
    }
}

/// A request-target taken apart.
enum RequestTarget {
    /// Splits a request-target into path and query; absolute-form targets (`http://host/p`) keep only the path.
    /// Works on the UTF-8 view: Character-based searches cost several times more on this per-request path.
    static func split(_ uri: String) -> (path: String?, args: String?) {
        let bytes = uri.utf8
        guard bytes.first == UInt8(ascii: "/") else {
            let lower = uri.prefix(8).lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return (nil, nil) }
            let afterScheme = uri.utf8.dropFirst(lower.hasPrefix("http://") ? 7 : 8)
            guard let slash = afterScheme.firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") })
            else { return ("/", nil) }
            let rest = String(Substring(afterScheme[slash...]))
            return split(rest.utf8.first == UInt8(ascii: "?") ? "/" + rest : rest)
        }
        guard let question = bytes.firstIndex(of: UInt8(ascii: "?")) else { return (uri, nil) }
        return (String(Substring(bytes[..<question])), String(Substring(bytes[bytes.index(after: question)...])))
    }
}
