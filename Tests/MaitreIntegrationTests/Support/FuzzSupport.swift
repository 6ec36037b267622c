import Foundation
import MaitreProxy
import NIOConcurrencyHelpers

/// What a client received from the proxy, checked for well-formedness.
struct ReceivedResponse {
    /// Status codes of the response heads read in order (interim 1xx heads included); empty for a clean close.
    var statuses: [Int] = []
    /// Why the bytes are not well-formed, or nil.
    var problem: String?
    /// The last status (the final answer), nil when nothing was received.
    var finalStatus: Int? { statuses.last }

    /// Checks that `bytes` are empty or start with well-formed response heads: `HTTP/1.1 DDD ` with DDD in
    /// 100...599, header lines `token ":" value` without NUL, CR, LF or other controls, ended by CRLFCRLF.
    /// An interim 1xx head (other than 101) is followed by another head; a body after the final head may be
    /// cut short (the proxy can only cut a response it already started). With `followingLengths`, a final
    /// head with Content-Length is followed past its body to the next response (pipelined GETs).
    init(_ bytes: [UInt8], followingLengths: Bool = false) {
        var offset = 0
        for _ in 0..<16 {
            // Nothing (more): a clean close, or an interim head and then the close (a request cut short).
            guard offset < bytes.count else { return }
            guard let (status, length, contentLength) = Self.head(bytes, from: offset, problem: &problem) else { return }
            statuses.append(status)
            offset += length
            if status >= 200 || status == 101 {
                guard followingLengths, let contentLength else { return }
                offset += contentLength
            }
        }
        problem = "more than 16 heads"
    }

    /// Parses one head at `from`; returns its status, its length and its Content-Length value if any.
    private static func head(_ bytes: [UInt8], from start: Int, problem: inout String?) -> (Int, Int, Int?)? {
        let prefix = Array("HTTP/1.1 ".utf8)
        guard bytes.count - start >= 13, Array(bytes[start..<(start + 9)]) == prefix else {
            problem = "no HTTP/1.1 status line"
            return nil
        }
        let digits = bytes[(start + 9)..<(start + 12)]
        guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }), bytes[start + 12] == UInt8(ascii: " ") else {
            problem = "status is not three digits and a space"
            return nil
        }
        let status = digits.reduce(0) { $0 * 10 + Int($1 - 48) }
        guard (100...599).contains(status) else {
            problem = "status \(status) outside 100...599"
            return nil
        }
        guard let end = firstCRLFCRLF(bytes, from: start) else {
            problem = "head not ended by CRLFCRLF"
            return nil
        }
        // Lines between the status line and the blank line.
        var lineStart = start
        var first = true
        var contentLength: Int?
        var i = start
        while i < end + 2 {
            if bytes[i] == UInt8(ascii: "\n") {
                guard i > lineStart, bytes[i - 1] == UInt8(ascii: "\r") else {
                    problem = "bare LF in the head at byte \(i)"
                    return nil
                }
                let line = bytes[lineStart..<(i - 1)]
                let lineProblem = first
                    ? line.dropFirst(13).first { ($0 < 0x20 && $0 != 9) || $0 == 0x7F }.map { "control byte \($0) in the reason" }
                    : headerLineProblem(line)
                if let lineProblem {
                    problem = lineProblem + ": " + escaped(Array(line), limit: 120)
                    return nil
                }
                let text = String(decoding: line, as: UTF8.self)
                if text.lowercased().hasPrefix("content-length:") {
                    contentLength = Int(text.dropFirst(15).trimmingCharacters(in: .whitespaces))
                }
                first = false
                lineStart = i + 1
            } else if bytes[i] == UInt8(ascii: "\r"), i + 1 < bytes.count, bytes[i + 1] != UInt8(ascii: "\n") {
                problem = "bare CR in the head at byte \(i)"
                return nil
            }
            i += 1
        }
        return (status, end + 4 - start, contentLength)
    }

    private static func headerLineProblem(_ line: ArraySlice<UInt8>) -> String? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
            return "header line without a name and colon"
        }
        let tokenSymbols = Array("!#$%&'*+-.^_`|~".utf8)
        for b in line[..<colon] {
            let isAlnum = (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122)
            guard isAlnum || tokenSymbols.contains(b) else { return "header name byte \(b) is not a token byte" }
        }
        for b in line[(colon + 1)...] where (b < 0x20 && b != 9) || b == 0x7F {
            return "control byte \(b) in a header value"
        }
        return nil
    }

    private static func firstCRLFCRLF(_ bytes: [UInt8], from start: Int) -> Int? {
        var i = start
        while i + 3 < bytes.count {
            if bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 { return i }
            i += 1
        }
        return nil
    }
}

/// Bytes as printable text for failure messages: \r, \n, \t and \xNN escapes.
func escaped(_ bytes: [UInt8], limit: Int = 400) -> String {
    var out = ""
    for b in bytes.prefix(limit) {
        switch b {
        case 13: out += "\\r"
        case 10: out += "\\n"
        case 9: out += "\\t"
        case 92: out += "\\\\"
        case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(b))
        default: out += String(format: "\\x%02X", b)
        }
    }
    if bytes.count > limit { out += "…(\(bytes.count) bytes)" }
    return out
}

/// Runs `body(index)` for every index in 0..<count on `workers` threads, each taking the next index until all
/// are taken or `budget` seconds have passed. Returns how many indices were run and whether every worker
/// finished within the budget plus `grace` seconds (a worker blocked past that is left behind, and the test
/// fails on the result instead of hanging).
func runOnThreads(workers: Int, count: Int, budget: TimeInterval, grace: TimeInterval = 15,
                  _ body: @escaping @Sendable (Int) -> Void) -> (ran: Int, finishedInTime: Bool) {
    let next = NIOLockedValueBox(0)
    let ran = NIOLockedValueBox(0)
    let deadline = Date().addingTimeInterval(budget)
    let done = DispatchSemaphore(value: 0)
    for _ in 0..<workers {
        let thread = Thread {
            while Date() < deadline {
                let index = next.withLockedValue { value -> Int? in
                    guard value < count else { return nil }
                    value += 1
                    return value - 1
                }
                guard let index else { break }
                body(index)
                ran.withLockedValue { $0 += 1 }
            }
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    let end = deadline.addingTimeInterval(grace)
    var finished = 0
    while finished < workers, done.wait(timeout: .now() + max(0, end.timeIntervalSinceNow)) == .success {
        finished += 1
    }
    return (ran.withLockedValue { $0 }, finished == workers)
}

/// Polls `condition` until it holds or `timeout` seconds pass; returns whether it held.
func pollUntil(timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}

/// Resident memory of this process (VmRSS from /proc/self/status) in bytes; throws when it cannot be read.
func residentMemory() throws -> Int {
    guard let status = readFile("/proc/self/status") else {
        throw TestHTTPClient.Failure(description: "cannot read /proc/self/status")
    }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        if let kib = Int(line.filter(\.isNumber)) { return kib * 1024 }
    }
    throw TestHTTPClient.Failure(description: "no VmRSS line in /proc/self/status")
}

/// Objects alive when the current test started: the counts are process-wide, and handlers that unit tests
/// built on EmbeddedChannels they never closed are not this test's to account for.
nonisolated(unsafe) private var liveBaseline = (clientHandlers: 0, exchanges: 0, upstreamConnections: 0)

/// Call at the start of a test that checks live counts.
func captureLiveBaseline() {
    liveBaseline = (0, 0, 0)
    if let now = liveCounts() { liveBaseline = now }
}

/// The live counts the leak checks poll, relative to `captureLiveBaseline` (nil in release builds, which do
/// not count).
func liveCounts() -> (clientHandlers: Int, exchanges: Int, upstreamConnections: Int)? {
    guard let c = LiveObjects.count(.clientHandler), let e = LiveObjects.count(.exchange),
        let u = LiveObjects.count(.upstreamConnection)
    else { return nil }
    return (c - liveBaseline.clientHandlers, e - liveBaseline.exchanges, u - liveBaseline.upstreamConnections)
}

/// Hands a non-Sendable test object to the one worker thread that uses it.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}

/// True once the file at `path` contains `text`, within `timeout`: the error log is written off the event loops,
/// so its line can land a moment after the event a test saw.
func fileEventuallyContains(_ path: String, _ text: String, timeout: TimeInterval = 5) -> Bool {
    pollUntil(timeout: timeout) { (readFile(path) ?? "").contains(text) }
}
