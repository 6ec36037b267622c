#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreConfig

/// Writes one access-log line for a finished request, as nginx's log module does: literals as written, each
/// variable's value escaped as the format says, `-` for a value that does not exist (an absent header, no
/// upstream), nginx's number formats (`0.004` seconds with millisecond precision, `10.0.0.1:80, 10.0.0.2:80`
/// for a request that tried two servers). Appends to a caller's buffer: nothing is allocated per line beyond the
/// few strings some variables need.
struct AccessLogLine {
    let end: RequestEnd
    let clock: LogClock

    func write(_ format: LogFormat, into out: inout [UInt8]) {
        for part in format.template.parts {
            switch part {
            case .literal(let text):
                out.append(contentsOf: text.utf8)
            case .variable(let variable):
                guard let value = value(of: variable) else {
                    out.append(UInt8(ascii: "-"))
                    continue
                }
                Self.append(value, escape: format.escape, to: &out)
            }
        }
        out.append(UInt8(ascii: "\n"))
    }

    /// True when an `if=` condition lets the line through: not empty and not "0".
    func allows(_ condition: VariableTemplate) -> Bool {
        var value = ""
        for part in condition.parts {
            switch part {
            case .literal(let text): value += text
            case .variable(let variable): value += self.value(of: variable) ?? ""
            }
        }
        return !value.isEmpty && value != "0"
    }

    /// The variable's value at the end of the request; nil when nginx's is "not found" (logged as `-`).
    func value(of variable: Variable) -> String? {
        let request = end.request
        switch variable {
        case .remoteAddr: return end.addresses.remoteIP
        case .remotePort: return end.addresses.remotePort
        case .serverAddr: return end.addresses.localIP
        case .serverPort: return end.addresses.localPort
        case .serverName: return end.serverName
        case .scheme: return "http"
        case .host:
            if case .name(let name)? = request?.checkHost() { return name }
            return end.serverName
        case .requestMethod: return request?.methodName
        case .requestURI: return request?.uri
        case .uri: return request.map { Self.path(of: $0.uri) }
        case .args: return request.map { Self.query(of: $0.uri) }
        case .request: return request?.requestLine
        case .httpHeader(let name):
            guard let request else { return nil }
            let values = request.headerValues(named: name)
            return values.isEmpty ? nil : values.joined(separator: name == "cookie" ? "; " : ", ")
        case .proxyHost, .proxyAddXForwardedFor:
            return nil
        case .remoteUser: return nil  // no Basic credentials are decoded yet
        case .timeLocal: return clock.timeLocal
        case .timeISO8601: return clock.timeISO8601
        case .msec: return clock.msec
        case .status: return Self.threeDigits(end.status)
        case .bodyBytesSent: return String(end.bodyBytesSent)
        case .requestTime: return Self.seconds(nanoseconds: max(0, end.endedAt - end.startedAt))
        case .connection: return String(end.connectionNumber)
        case .connectionRequests: return String(end.requestNumber)
        case .upstreamAddr: return attempts { end.address(of: $0) }
        case .upstreamStatus: return attempts { $0.status == 0 ? "-" : String($0.status) }
        case .upstreamResponseTime: return attempts { Self.seconds(nanoseconds: $0.responseNanoseconds) }
        case .upstreamConnectTime: return attempts { Self.seconds(nanoseconds: $0.connectNanoseconds) }
        case .upstreamHeaderTime: return attempts { Self.seconds(nanoseconds: $0.headerNanoseconds) }
        }
    }

    /// One entry per attempt, joined with ", " as nginx joins them; nil without an upstream attempt.
    private func attempts(_ entry: (AttemptRecord) -> String) -> String? {
        guard let upstream = end.upstream, !upstream.attempts.isEmpty else { return nil }
        var text = ""
        upstream.attempts.forEach { attempt in
            if !text.isEmpty { text += ", " }
            text += entry(attempt)
        }
        return text
    }

    /// `0.004`: seconds with milliseconds, as nginx prints its `ngx_msec_t` times; `-` for a step not reached.
    static func seconds(nanoseconds: Int64) -> String {
        guard nanoseconds >= 0 else { return "-" }
        let milliseconds = nanoseconds / 1_000_000
        let fraction = milliseconds % 1000
        let padding = fraction < 10 ? "00" : fraction < 100 ? "0" : ""
        return "\(milliseconds / 1000).\(padding)\(fraction)"
    }

    static func threeDigits(_ status: Int) -> String {
        guard status >= 0 && status < 1000 else { return "000" }
        return status < 10 ? "00\(status)" : status < 100 ? "0\(status)" : String(status)
    }

    static func path(of uri: String) -> String {
        guard let question = uri.firstIndex(of: "?") else { return uri }
        return String(uri[..<question])
    }

    static func query(of uri: String) -> String {
        guard let question = uri.firstIndex(of: "?") else { return "" }
        return String(uri[uri.index(after: question)...])
    }

    /// nginx's escapes for a variable's value (ngx_http_log_escape, ngx_escape_json).
    static func append(_ value: String, escape: LogFormat.Escape, to out: inout [UInt8]) {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        for byte in value.utf8 {
            switch escape {
            case .none:
                out.append(byte)
            case .default:
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 || byte > 0x7E {
                    out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                } else {
                    out.append(byte)
                }
            case .json:
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
                case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
                case 0..<0x20:
                    out.append(contentsOf: Array("\\u00".utf8))
                    out.append(contentsOf: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                default: out.append(byte)
                }
            }
        }
    }
}

/// The wall-clock texts of the access log, made at most once a second per event loop (`$msec` every line).
final class LogClock {
    private var second: time_t = -1
    private(set) var timeLocal = ""
    private(set) var timeISO8601 = ""
    private(set) var msec = ""

    /// Brings the texts to now.
    func update() {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let milliseconds = now.tv_nsec / 1_000_000
        msec = "\(now.tv_sec).\(milliseconds < 10 ? "00" : milliseconds < 100 ? "0" : "")\(milliseconds)"
        guard now.tv_sec != second else { return }
        second = now.tv_sec
        var t = now.tv_sec
        var parts = tm()
        localtime_r(&t, &parts)
        timeLocal = Self.format(parts, "%d/%b/%Y:%H:%M:%S ") + Self.offset(parts.tm_gmtoff, colon: false)
        timeISO8601 = Self.format(parts, "%Y-%m-%dT%H:%M:%S") + Self.offset(parts.tm_gmtoff, colon: true)
    }

    private static func format(_ parts: tm, _ pattern: String) -> String {
        var parts = parts
        var buffer = [Int8](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `+0000` (`$time_local`) or `+00:00` (`$time_iso8601`).
    private static func offset(_ seconds: Int, colon: Bool) -> String {
        let sign = seconds < 0 ? "-" : "+"
        let minutes = abs(seconds) / 60
        let hours = minutes / 60
        let rest = minutes % 60
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : String(v) }
        return sign + two(hours) + (colon ? ":" : "") + two(rest)
    }
}

@available(*, unavailable)
extension LogClock: Sendable {}
