import MaitreConfig

/// One try of one server for a stream session: what nginx's stream module keeps in `u->state` and prints as
/// `$upstream_addr` and the `$upstream_*_time` and `$upstream_bytes_*` lists. Times are nanoseconds from the
/// attempt's start, -1 where the step was not reached (nginx prints `-`).
struct StreamAttempt: Equatable {
    /// The server's address, or the upstream's name when none could be selected (as nginx prints it).
    var address: String
    let startedAt: Int64
    var connectNanoseconds: Int64 = -1
    var firstByteNanoseconds: Int64 = -1
    var sessionNanoseconds: Int64 = -1
    var bytesSent = 0
    var bytesReceived = 0
}

/// A finished stream session, complete: what its access-log line and the figures read.
struct StreamSessionEnd {
    let addresses: ConnectionAddresses
    let isUDP: Bool
    let status: Int
    /// `$bytes_received` (from the client) and `$bytes_sent` (to the client).
    let bytesReceived: Int
    let bytesSent: Int
    /// On the loop's clock, nanoseconds.
    let startedAt: Int64
    let endedAt: Int64
    let attempts: [StreamAttempt]
    let connectionNumber: UInt64
    let accessLogs: [AccessLog]
}

/// Writes one stream access-log line (ngx_stream_log_module): the same escaping and number formats as http's.
struct StreamLogLine {
    /// A template's value during a session (`return`): the variables as they stand now, unescaped.
    static func evaluate(
        _ template: VariableTemplate, addresses: ConnectionAddresses, udp: Bool, startedAt: Int64, now: Int64,
        connectionNumber: UInt64
    ) -> [UInt8] {
        let clock = LogClock()
        clock.update()
        let line = StreamLogLine(
            end: StreamSessionEnd(
                addresses: addresses, isUDP: udp, status: 200, bytesReceived: 0, bytesSent: 0, startedAt: startedAt,
                endedAt: now, attempts: [], connectionNumber: connectionNumber, accessLogs: []),
            clock: clock)
        var out = LogBytes(capacity: 128)
        for part in template.parts {
            switch part {
            case .literal(let text): out.append(utf8: text)
            case .variable(let variable): _ = line.append(variable, escape: .none, to: &out)
            }
        }
        return out.array
    }

    let end: StreamSessionEnd
    let clock: LogClock

    func write(_ format: LogFormat, into out: inout LogBytes) {
        for segment in format.segments {
            switch segment {
            case .bytes(let bytes): out.append(bytes)
            case .variable(let variable):
                if !append(variable, escape: format.escape, to: &out) { out.append(UInt8(ascii: "-")) }
            }
        }
        out.append(UInt8(ascii: "\n"))
    }

    /// True when an `if=` condition lets the line through: not empty and not "0".
    func allows(_ condition: VariableTemplate) -> Bool {
        AccessLogLine.condition(condition) { variable, value in _ = append(variable, escape: .none, to: &value) }
    }

    /// The variable's value at the session's end; false when nginx's is "not found" (`-`).
    func append(_ variable: Variable, escape: LogFormat.Escape, to out: inout LogBytes) -> Bool {
        switch variable {
        case .remoteAddr: AccessLogLine.append(end.addresses.remoteIP, escape: escape, to: &out)
        case .remotePort: AccessLogLine.append(end.addresses.remotePort, escape: escape, to: &out)
        case .serverAddr: AccessLogLine.append(end.addresses.localIP, escape: escape, to: &out)
        case .serverPort: AccessLogLine.append(end.addresses.localPort, escape: escape, to: &out)
        case .binaryRemoteAddr:
            end.addresses.remoteBytes.withUnsafeBytes { AccessLogLine.appendEscaped($0, escape: escape, to: &out) }
        case .protocolName: out.append((end.isUDP ? "UDP" : "TCP") as StaticString)
        case .status: AccessLogLine.appendThreeDigits(end.status, to: &out)
        case .bytesSent: AccessLogLine.appendDecimal(end.bytesSent, to: &out)
        case .bytesReceived: AccessLogLine.appendDecimal(end.bytesReceived, to: &out)
        case .sessionTime: AccessLogLine.appendSeconds(nanoseconds: max(0, end.endedAt - end.startedAt), to: &out)
        case .connection: AccessLogLine.appendDecimal(Int(truncatingIfNeeded: end.connectionNumber), to: &out)
        case .timeLocal: out.append(clock.timeLocal)
        case .timeISO8601: out.append(clock.timeISO8601)
        case .msec:
            AccessLogLine.appendDecimal(clock.seconds, to: &out)
            out.append(UInt8(ascii: "."))
            AccessLogLine.appendThreeDigits(clock.milliseconds, to: &out)
        case .upstreamAddr:
            return appendList(to: &out) { attempt, out in AccessLogLine.append(attempt.address, escape: escape, to: &out) }
        case .upstreamConnectTime:
            return appendList(to: &out) { AccessLogLine.appendSeconds(nanoseconds: $0.connectNanoseconds, to: &$1) }
        case .upstreamFirstByteTime:
            return appendList(to: &out) { AccessLogLine.appendSeconds(nanoseconds: $0.firstByteNanoseconds, to: &$1) }
        case .upstreamSessionTime:
            return appendList(to: &out) { AccessLogLine.appendSeconds(nanoseconds: $0.sessionNanoseconds, to: &$1) }
        case .upstreamBytesSent:
            return appendList(to: &out) { AccessLogLine.appendDecimal($0.bytesSent, to: &$1) }
        case .upstreamBytesReceived:
            return appendList(to: &out) { AccessLogLine.appendDecimal($0.bytesReceived, to: &$1) }
        case .proxyProtocolAddr, .proxyProtocolPort, .proxyProtocolServerAddr, .proxyProtocolServerPort:
            guard let value = end.addresses.proxyProtocolValue(variable) else { return false }
            AccessLogLine.append(value, escape: escape, to: &out)
        default:
            return false  // http's variables do not exist here (the configuration refuses them)
        }
        return true
    }

    /// One entry per attempt, joined with ", " as nginx joins them; false without an attempt.
    private func appendList(to out: inout LogBytes, _ entry: (StreamAttempt, inout LogBytes) -> Void) -> Bool {
        guard !end.attempts.isEmpty else { return false }
        for (index, attempt) in end.attempts.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ","), UInt8(ascii: " ")) }
            entry(attempt, &out)
        }
        return true
    }
}
