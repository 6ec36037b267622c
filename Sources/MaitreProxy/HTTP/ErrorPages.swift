import NIOHTTP1

/// The bodies maitred answers with on its own, and the reason phrases of its status lines: nginx's, byte for byte
/// apart from the signature line (`maitre` where nginx writes its version).
enum ErrorPages {
    static func html(status: HTTPResponseStatus) -> String {
        let code = Int(status.code)
        let title = "\(code) \(pageTitle(code))"
        return "<html>\r\n<head><title>\(title)</title></head>\r\n<body>\r\n<center><h1>\(title)</h1></center>\r\n"
            + "<hr><center>maitre</center>\r\n</body>\r\n</html>\r\n"
    }

    /// nginx's answer to a head too large for its buffers (its 494): status 400 with this page.
    static let headerTooLarge = "<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n"
        + "<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n"
        + "<center>Request Header Or Cookie Too Large</center>\r\n<hr><center>maitre</center>\r\n</body>\r\n</html>\r\n"

    /// nginx's status-line phrases (`ngx_http_status_lines`); a code it has none for gets none ("HTTP/1.1 418 ").
    static func reasonPhrase(_ status: HTTPResponseStatus) -> String {
        switch status.code {
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 302: return "Moved Temporarily"
        case 303: return "See Other"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 402: return "Payment Required"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Not Allowed"
        case 406: return "Not Acceptable"
        case 408: return "Request Time-out"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 412: return "Precondition Failed"
        case 413: return "Request Entity Too Large"
        case 414: return "Request-URI Too Large"
        case 415: return "Unsupported Media Type"
        case 416: return "Requested Range Not Satisfiable"
        case 421: return "Misdirected Request"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Temporarily Unavailable"
        case 504: return "Gateway Time-out"
        case 505: return "HTTP Version Not Supported"
        case 507: return "Insufficient Storage"
        default: return ""
        }
    }

    /// The title of nginx's built-in page where it differs from the status line (`ngx_http_error_*_page`).
    static func pageTitle(_ code: Int) -> String {
        switch code {
        case 302: return "Found"
        case 401: return "Authorization Required"
        default: return reasonPhrase(HTTPResponseStatus(statusCode: code))
        }
    }

    /// True for codes nginx answers with an HTML page when `return CODE` has no text.
    static func hasPage(_ code: Int) -> Bool { code >= 300 && code != 304 }
}
