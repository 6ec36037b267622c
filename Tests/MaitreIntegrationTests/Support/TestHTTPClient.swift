#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A deliberately plain blocking HTTP/1.1 client over a real loopback socket, so tests control every byte
/// (pipelining, malformed requests, source addresses) and nothing is hidden by a client library.
/// Every read has a timeout, so a wedged server fails the test instead of hanging it.
final class TestHTTPClient {
    struct Response {
        var version = ""
        var status = 0
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        var bodyLength = 0
        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let fd: Int32
    private var buffer: [UInt8] = []
    private var position = 0
    private var scratch: [UInt8]

    /// Connects to 127.0.0.1:`port` (or `host`), optionally from a chosen local source address such as 127.0.5.1.
    /// `scratchSize` is the receive buffer (small for tests that open very many short connections).
    init(port: Int, host: String = "127.0.0.1", source: String? = nil, timeoutSeconds: Int = 10,
         scratchSize: Int = 256 * 1024) throws {
        scratch = [UInt8](repeating: 0, count: scratchSize)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if let source {
            var local = Self.address(source, port: 0)
            let rc = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else { close(fd); throw Failure(description: "bind(\(source)) failed: \(errno)") }
        }
        var remote = Self.address(host, port: port)
        let rc = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let code = errno
            close(fd)
            throw Failure(description: "connect() to \(host):\(port) failed: \(code)")
        }
    }

    deinit { close(fd) }

    private static func address(_ host: String, port: Int) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &a.sin_addr)
        return a
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send() failed: \(errno)") }
            offset += n
        }
    }

    /// Sends `count` bytes of body in pieces of `piece` bytes without building them all in memory.
    func sendRepeated(byte: UInt8, count: Int, piece: Int = 256 * 1024) throws {
        let block = [UInt8](repeating: byte, count: min(piece, max(count, 1)))
        var left = count
        while left > 0 {
            let n = min(left, block.count)
            let sent = block.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, n, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw Failure(description: "send() failed: \(errno)") }
            left -= sent
        }
    }

    /// Sends a simple request; `headers` adds to `Host: localhost`.
    func request(_ method: String = "GET", _ path: String, headers: [(String, String)] = [], body: String? = nil,
                 host: String? = "localhost") throws -> Response {
        var text = "\(method) \(path) HTTP/1.1\r\n"
        if let host { text += "Host: \(host)\r\n" }
        for (n, v) in headers { text += "\(n): \(v)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n"
        if let body { text += body }
        try send(text)
        return try readResponse(isHead: method == "HEAD")
    }

    /// How a raw read ended: the peer closed (EOF), reset the connection, or sent nothing within the timeout.
    enum RawEnd: Equatable {
        case eof
        case reset
        case timeout
        case tooLong
    }

    /// Reads raw bytes (those already buffered first) until the peer closes the connection, the timeout passes
    /// without a byte, or `limit` bytes arrived. Never throws: odd input is what the caller wants to see.
    func readUntilClose(limit: Int = 16 * 1024 * 1024) -> (bytes: [UInt8], end: RawEnd) {
        var out = Array(buffer[position...])
        buffer.removeAll(keepingCapacity: true)
        position = 0
        while out.count < limit {
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return (out, .eof) }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                return (out, code == EAGAIN || code == EWOULDBLOCK ? .timeout : .reset)
            }
            out.append(contentsOf: scratch[0..<n])
        }
        return (out, .tooLong)
    }

    /// Half-closes the connection: the server sees the end of the request stream, the response can still come.
    func shutdownWrite() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// True when the server closed the connection (EOF) within the timeout.
    func isClosedByPeer() -> Bool {
        if position < buffer.count { return false }
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    private func fill() throws -> Bool {
        if position > 0 && position == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            position = 0
        }
        let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw Failure(description: "recv() failed or timed out: \(errno)") }
        if n == 0 { return false }
        buffer.append(contentsOf: scratch[0..<n])
        return true
    }

    private func readLine() throws -> String {
        while true {
            if let i = buffer[position...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = i
                if end > position, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = String(decoding: buffer[position..<end], as: UTF8.self)
                position = i + 1
                return line
            }
            guard try fill() else { throw Failure(description: "connection closed while reading a line") }
        }
    }

    private func readExactly(_ count: Int, keep: Bool, into response: inout Response) throws {
        var left = count
        let buffered = min(left, buffer.count - position)
        if keep { response.body.append(contentsOf: buffer[position..<(position + buffered)]) }
        response.bodyLength += buffered
        position += buffered
        left -= buffered
        while left > 0 {
            if !keep {
                // Large downloads: count straight from the socket without keeping or copying anything.
                let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, min(left, $0.count), 0) }
                if n < 0 { throw Failure(description: "recv() failed or timed out: \(errno)") }
                if n == 0 { throw Failure(description: "connection closed with \(left) body bytes missing") }
                response.bodyLength += n
                left -= n
                continue
            }
            guard try fill() else { throw Failure(description: "connection closed with \(left) body bytes missing") }
            let n = min(left, buffer.count - position)
            response.body.append(contentsOf: buffer[position..<(position + n)])
            response.bodyLength += n
            position += n
            left -= n
        }
    }

    /// Reads one status line and header block without skipping interim (1xx) responses; returns the status.
    func readInterimStatus() throws -> Int {
        let statusLine = try readLine()
        while try !readLine().isEmpty {}
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let code = Int(parts[1]) else { throw Failure(description: "bad status line: \(statusLine)") }
        return code
    }

    /// Reads one response. `keepBody: false` counts body bytes without keeping them (large downloads).
    func readResponse(isHead: Bool = false, keepBody: Bool = true) throws -> Response {
        var response = Response()
        var statusLine = try readLine()
        while true {
            let parts = statusLine.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, let code = Int(parts[1]) else {
                throw Failure(description: "bad status line: \(statusLine)")
            }
            response.version = String(parts[0])
            response.status = code
            response.headers = []
            while true {
                let line = try readLine()
                if line.isEmpty { break }
                guard let colon = line.firstIndex(of: ":") else { throw Failure(description: "bad header: \(line)") }
                let name = String(line[..<colon])
                let value = String(line[line.index(after: colon)...]).trimmingSpaces()
                response.headers.append((name, value))
            }
            if code >= 100 && code < 200 && code != 101 {
                statusLine = try readLine()
                continue
            }
            break
        }
        if isHead || response.status == 204 || response.status == 304 { return response }
        if let te = response.header("transfer-encoding"), te.lowercased().contains("chunked") {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else {
                    throw Failure(description: "bad chunk size: \(sizeLine)")
                }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                try readExactly(size, keep: keepBody, into: &response)
                _ = try readLine()
            }
        } else if let length = response.header("content-length").flatMap({ Int($0) }) {
            try readExactly(length, keep: keepBody, into: &response)
        } else {
            while true {
                if position < buffer.count {
                    let n = buffer.count - position
                    if keepBody { response.body.append(contentsOf: buffer[position...]) }
                    response.bodyLength += n
                    position = buffer.count
                }
                guard try fill() else { break }
            }
        }
        return response
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
