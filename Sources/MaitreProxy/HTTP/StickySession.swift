#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreBalancing
import MaitreConfig

/// `sticky` on the request path (nginx 1.29.6's ngx_http_upstream_sticky_module): the server ID a request names,
/// and the cookie a response sets.
enum StickySession {
    /// `sticky cookie NAME`: the cookie's value; `sticky route $a $b`: the first variable that is not empty.
    static func hint(_ sticky: StickySetting, _ variables: RequestVariables) -> [UInt8] {
        switch sticky {
        case .cookie(let cookie):
            return Array(variables.value(of: .cookie(cookie.name)).utf8)
        case .route(let sources):
            for source in sources {
                let value = variables.value(of: source)
                if !value.isEmpty { return Array(value.utf8) }
            }
            return []
        case .learn:
            return []  // the table's answer (`stickyLearnStart`)
        }
    }

    /// `Set-Cookie: NAME=SID[; expires=…; max-age=…][; domain=…][; httponly][; secure][; samesite=…][; path=…]`
    /// with CRLF, byte for byte as nginx writes it (ngx_http_upstream_sticky_cookie_insert).
    static func cookieLine(_ cookie: StickyCookie, serverID: [UInt8], now: time_t = time(nil)) -> String {
        var line = "Set-Cookie: " + cookie.name + "=" + String(decoding: serverID, as: UTF8.self)
        switch cookie.expires {
        case .max?:
            line += "; expires=Thu, 31-Dec-37 23:55:55 GMT; max-age=315360000"
        case .seconds(let seconds)?:
            line += "; expires=" + cookieTime(now + time_t(seconds)) + "; max-age=\(seconds)"
        case nil:
            break
        }
        if let domain = cookie.domain { line += "; domain=" + domain }
        if cookie.httpOnly { line += "; httponly" }
        if cookie.secure { line += "; secure" }
        if let sameSite = cookie.sameSite { line += "; samesite=" + sameSite }
        if let path = cookie.path { line += "; path=" + path }
        return line + "\r\n"
    }

    /// ngx_http_cookie_time: `Thu, 31-Dec-37 23:55:55 GMT` (two-digit years before 2038, four after, as nginx).
    static func cookieTime(_ t: time_t) -> String {
        var t = t
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let year = Int(parts.tm_year) + 1900
        let yearText = year < 2038 ? two(Int32(year % 100)) : String(year)
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday))-\(months[Int(parts.tm_mon)])-\(yearText) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

extension HTTPProxyHandler {
    /// The Set-Cookie line of a `sticky cookie` upstream for the peer that answered, nil otherwise.
    func stickyCookieLine(_ exchange: ProxyExchange) -> String? {
        // `runtime` is the one the request started on: its balancer chose the peer.
        guard case .cookie(let cookie)? = runtime.snapshot.upstreams[exchange.upstreamIndex].upstream.sticky,
            let peer = exchange.currentPeer
        else { return nil }
        return StickySession.cookieLine(cookie, serverID: runtime.balancers[exchange.upstreamIndex].serverID(of: peer))
    }
}
