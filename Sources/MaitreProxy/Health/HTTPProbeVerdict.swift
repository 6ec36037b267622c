import MaitreConfig

/// Reads an HTTP health probe's answer as the upstream check module does (ngx_http_upstream_check_parse_status_line):
/// only the status line counts. It must start with `HTTP/`, a major version digit 1–9, `.`, minor digits, one or
/// more spaces, three digits, then a space, `.`, CR or LF; the status class must be one `check_http_expect_alive`
/// lists. Headers and body are never read. Pure.
enum HTTPProbeVerdict {
    /// The verdict on what arrived so far: nil while the status line is incomplete and more may come.
    /// `ended`: the server closed the connection (an incomplete line is then a failure).
    static func evaluate(_ bytes: [UInt8], ended: Bool, check: HealthCheck) -> Bool? {
        switch statusCode(bytes) {
        case .incomplete: return ended ? false : nil
        case .invalid: return false
        case .status(let code): return check.isAlive(status: code)
        }
    }

    enum StatusLine: Equatable {
        case incomplete
        case invalid
        case status(Int)
    }

    static func statusCode(_ bytes: [UInt8]) -> StatusLine {
        let prefix = Array("HTTP/".utf8)
        var index = 0
        // "HTTP/", byte for byte (a shorter answer that matches so far is incomplete).
        while index < prefix.count {
            guard index < bytes.count else { return .incomplete }
            guard bytes[index] == prefix[index] else { return .invalid }
            index += 1
        }
        // Major version: a digit 1-9 then more digits; `.`; minor digits (the module's loop, bounded here by the
        // probe's response limit).
        guard index < bytes.count else { return .incomplete }
        guard (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(bytes[index]) else { return .invalid }
        index += 1
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        guard index < bytes.count else { return .incomplete }
        guard bytes[index] == UInt8(ascii: ".") else { return .invalid }
        index += 1
        var minorDigits = 0
        while index < bytes.count, isDigit(bytes[index]) {
            minorDigits += 1
            index += 1
        }
        guard index < bytes.count else { return .incomplete }
        guard minorDigits > 0, bytes[index] == UInt8(ascii: " ") else { return .invalid }
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
        var code = 0
        for _ in 0..<3 {
            guard index < bytes.count else { return .incomplete }
            guard isDigit(bytes[index]) else { return .invalid }
            code = code * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            index += 1
        }
        guard index < bytes.count else { return .incomplete }
        switch bytes[index] {
        case UInt8(ascii: " "), UInt8(ascii: "."), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
            break
        default:
            return .invalid
        }
        // The line is complete at its LF (a close before it is a failure, as the module's parser sees it).
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") { return .status(code) }
            index += 1
        }
        return .incomplete
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}
