/// Request-URI handling that decides routing and what is sent upstream.
public enum URIPath {
    /// nginx's URI normalisation before location matching (ngx_http_parse_complex_uri): decode %XX, merge `//` (merge_slashes on),
    /// resolve `.` and `..` segments; returns nil when the URI is invalid (e.g. `..` above root, bad %-escape) → the proxy answers 400.
    /// Input is the request-target path part (no query).
    public static func normalize(_ raw: String) -> String? {
        if isAlreadyNormal(raw) { return raw }
        return normalizeWithoutFastPath(raw)
    }

    /// The full port of nginx's parser, used when the fast check cannot vouch for the path.
    static func normalizeWithoutFastPath(_ raw: String) -> String? {
        normalizeBytes(Array(raw.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The common case, checked without allocating: starts with `/`, no `%`, no `//`, no `/.` segment start, no
    /// control bytes. Such a path comes out of ngx_http_parse_complex_uri unchanged.
    static func isAlreadyNormal(_ raw: String) -> Bool {
        var previous: UInt8 = 0
        var first = true
        for byte in raw.utf8 {
            if first {
                guard byte == UInt8(ascii: "/") else { return false }
                first = false
            } else if previous == UInt8(ascii: "/") && (byte == UInt8(ascii: "/") || byte == UInt8(ascii: ".")) {
                return false
            }
            if byte == UInt8(ascii: "%") || byte < 0x21 || byte == 0x7F || byte == UInt8(ascii: "#")
                || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "\\")
            {
                return false
            }
            previous = byte
        }
        return !first
    }

    private enum State { case usual, slash, dot, dotDot, quoted, quotedSecond }

    /// A port of ngx_http_parse_complex_uri's state machine (non-Windows, merge_slashes on). A decoded byte is fed
    /// back through the state it was found in, so `%2e%2e` and `%2F` act like `..` and `/`; decoded `%`, `#`, `?`
    /// stay literal.
    private static func normalizeBytes(_ input: [UInt8]) -> [UInt8]? {
        guard input.first == UInt8(ascii: "/") else { return nil }
        // nginx reads one byte past the URI; any terminator will do.
        let bytes = input + [0x0A]
        let end = input.count
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        var state = State.usual
        var quotedState = State.usual
        var decoded: UInt8 = 0
        var p = 0
        var ch = bytes[p]
        p += 1

        /// nginx's `u -= 4` then back to the previous `/`: drops the segment before `..`.
        func dropLastSegment() -> Bool {
            var u = out.count - 4
            while true {
                if u < 0 { return false }
                if out[u] == UInt8(ascii: "/") {
                    out.removeSubrange((u + 1)...)
                    return true
                }
                u -= 1
            }
        }

        func hexValue(_ c: UInt8) -> UInt8? {
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") { return c - UInt8(ascii: "0") }
            let lower = c | 0x20
            if lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "f") { return lower - UInt8(ascii: "a") + 10 }
            return nil
        }

        parsing: while p <= end {
            switch state {
            case .usual:
                switch ch {
                case UInt8(ascii: "/"):
                    state = .slash
                    out.append(ch)
                case UInt8(ascii: "%"):
                    quotedState = state
                    state = .quoted
                case UInt8(ascii: "?"), UInt8(ascii: "#"):
                    break parsing
                default:
                    out.append(ch)
                }
                ch = bytes[p]
                p += 1

            case .slash:
                switch ch {
                case UInt8(ascii: "/"):
                    break  // merge_slashes
                case UInt8(ascii: "."):
                    state = .dot
                    out.append(ch)
                case UInt8(ascii: "%"):
                    quotedState = state
                    state = .quoted
                case UInt8(ascii: "?"), UInt8(ascii: "#"):
                    break parsing
                default:
                    state = .usual
                    out.append(ch)
                }
                ch = bytes[p]
                p += 1

            case .dot:
                switch ch {
                case UInt8(ascii: "/"):
                    state = .slash
                    out.removeLast()
                case UInt8(ascii: "."):
                    state = .dotDot
                    out.append(ch)
                case UInt8(ascii: "%"):
                    quotedState = state
                    state = .quoted
                case UInt8(ascii: "?"), UInt8(ascii: "#"):
                    out.removeLast()
                    return out
                default:
                    state = .usual
                    out.append(ch)
                }
                ch = bytes[p]
                p += 1

            case .dotDot:
                switch ch {
                case UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: "#"):
                    guard dropLastSegment() else { return nil }
                    if ch != UInt8(ascii: "/") { return out }
                    state = .slash
                case UInt8(ascii: "%"):
                    quotedState = state
                    state = .quoted
                default:
                    state = .usual
                    out.append(ch)
                }
                ch = bytes[p]
                p += 1

            case .quoted:
                guard let high = hexValue(ch) else { return nil }
                decoded = high
                state = .quotedSecond
                ch = bytes[p]
                p += 1

            case .quotedSecond:
                guard let low = hexValue(ch) else { return nil }
                ch = (decoded << 4) + low
                if ch == UInt8(ascii: "%") || ch == UInt8(ascii: "#") || ch == UInt8(ascii: "?") {
                    state = .usual
                    out.append(ch)
                    ch = bytes[p]
                    p += 1
                } else if ch == 0 {
                    return nil
                } else {
                    // Re-examine the decoded byte in the state the escape interrupted.
                    state = quotedState
                }
            }
        }

        switch state {
        case .quoted, .quotedSecond:
            return nil
        case .dot:
            out.removeLast()
        case .dotDot:
            guard dropLastSegment() else { return nil }
        default:
            break
        }
        return out
    }

    /// nginx's proxy_pass URI rule: when `proxy_pass` has a URI part and the location is a prefix location, the matched prefix of the
    /// normalized URI is replaced by that URI part; otherwise (no URI part) the original request URI is sent unchanged. Returns the
    /// request-target to send upstream (with `?args` appended when present).
    ///
    /// `originalURI` is the request-target as received; when it carries no `?` of its own, `args` is appended to it.
    /// With a URI part, the rest of the normalized path is re-escaped when the client's URI had %-escapes (nginx's
    /// `quoted_uri`), so a decoded space or `?` cannot change the meaning of what is sent.
    public static func upstreamTarget(
        originalURI: String, normalizedPath: String, args: String?, location: Location, proxyPass: ProxyPass
    ) -> String {
        // Bytes, not Characters: `String.contains("?")` walked grapheme clusters (~300 instructions a request).
        guard let uriPart = proxyPass.uri else {
            if originalURI.utf8.contains(UInt8(ascii: "?")) { return originalURI }
            guard let args, !args.isEmpty else { return originalURI }
            return originalURI + "?" + args
        }
        // Only this branch needs the location's name (reading the match copies its payload).
        let locationName: String
        switch location.match {
        case .exact(let name), .prefix(let name, _): locationName = name
        case .regex: locationName = ""
        }
        let path = Array(normalizedPath.utf8)
        let matchedLength = min(locationName.utf8.count, path.count)
        var rest = Array(path[matchedLength...])
        let originalPath = originalURI.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        if originalPath.utf8.contains(UInt8(ascii: "%")) { rest = escape(rest) }
        var target = uriPart + String(decoding: rest, as: UTF8.self)
        if let args, !args.isEmpty { target += "?" + args }
        return target
    }

    /// ngx_escape_uri with NGX_ESCAPE_URI: controls, space, `"`, `#`, `%`, `<`, `>`, `?`, `\`, `^`, `` ` ``, `{`, `|`,
    /// `}`, DEL and non-ASCII bytes become %XX.
    private static let uriEscapeTable: [UInt32] = [
        0xffff_ffff, 0xd000_002d, 0x5000_0000, 0xb800_0001,
        0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff,
    ]

    private static func escape(_ bytes: [UInt8]) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            if uriEscapeTable[Int(byte >> 5)] & (1 << UInt32(byte & 0x1f)) != 0 {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xf)])
            } else {
                out.append(byte)
            }
        }
        return out
    }
}
