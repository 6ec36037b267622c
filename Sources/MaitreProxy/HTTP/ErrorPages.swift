import NIOHTTP1

/// The bodies maitred answers with on its own, shaped like nginx's built-in error pages.
enum ErrorPages {
    static func html(status: HTTPResponseStatus) -> String {
        let title = "\(status.code) \(reasonPhrase(status))"
        return "<html>\r\n<head><title>\(title)</title></head>\r\n<body>\r\n<center><h1>\(title)</h1></center>\r\n"
            + "<hr><center>maitre</center>\r\n</body>\r\n</html>\r\n"
    }

    /// nginx's reason phrases where they differ from NIO's.
    static func reasonPhrase(_ status: HTTPResponseStatus) -> String {
        switch status.code {
        case 413: return "Request Entity Too Large"
        case 414: return "Request-URI Too Large"
        case 302: return "Moved Temporarily"
        default: return status.reasonPhrase
        }
    }

    /// True for codes nginx answers with an HTML page when `return CODE` has no text.
    static func hasPage(_ code: Int) -> Bool { code >= 300 && code != 304 }
}
