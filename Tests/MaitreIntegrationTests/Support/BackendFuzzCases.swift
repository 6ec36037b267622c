import MaitreBalancing

/// Odd upstream responses for ProxyFuzzTests: a pure function from a case index to what a ScriptedBackend
/// writes. Every case ends by closing the connection, so none of them waits for a proxy timeout.
struct BackendFuzzCase {
    enum Kind: Int, CaseIterable {
        case valid, headerFlood, longValue, duplicateLength, transferEncoding, oddStatusLine, interim, oddChunking,
            lengthMismatch, earlyClose, trickled, oddBytes, bareLF, mutated, mutatedTrickled
    }

    var kind: Kind
    var steps: [ScriptedBackend.Step]
    /// Request it through the location with `proxy_buffer_size 8k` (otherwise the default 4k).
    var largeBuffer = false
    /// The status the client must get, when the case determines it; nil when timing may decide (a body cut
    /// off after the head may or may not let the head through first) or the input is random.
    var expectedStatus: Int?

    /// The bytes the backend writes, concatenated (for failure reports).
    var bytes: [UInt8] {
        steps.flatMap { step -> [UInt8] in
            if case .write(let b) = step { return b }
            return []
        }
    }
}

enum BackendFuzzCases {
    static let seed: UInt64 = 0x6D61_6974_7265_0001
    static let smallLimit = 4096
    static let largeLimit = 8192

    /// Status lines the targeted test sends; the parser refuses all of them (see ResponseHeadParser).
    static let refusedStatusLines = [
        "HTTP/1.1 2000 OK", "HTTP/1.1 20 OK", "HTTP/1.1 abc", "HTTP/2 200", "ICY 200 OK", "", "HTTP/1.1 099 X",
        "HTTP/1.1  200 OK", "HTTP/1.1 -20 OK", "HTTP/1.x 200 OK", "HTTP/11 200 OK", " HTTP/1.1 200 OK",
        "http/1.1 200 OK",  // nginx's status-line parser takes "HTTP" in capitals only
    ]
    /// Odd-looking status lines the parser accepts (RFC 9112 allows them): the client gets a proxied answer.
    static let acceptedStatusLines: [(line: String, status: Int)] = [
        ("HTTP/1.1 200", 200), ("HTTP/1.0 200 OK", 200), ("HTTP/1.1 200 ", 200),
        ("HTTP/1.1 299 Whatever reason", 299),
    ]

    static func make(_ index: Int) -> BackendFuzzCase {
        var rng = SplitMix64(seed: seed, index: index)
        let kind = BackendFuzzCase.Kind.allCases[index % BackendFuzzCase.Kind.allCases.count]
        let body = Array("case \(index) ".utf8) + letters(rng.pick([0, 1, 10, 200, 3000, 5000, 20000]), &rng)
        var c = BackendFuzzCase(kind: kind, steps: [])
        var response: [UInt8] = []
        switch kind {
        case .valid:
            (response, c.expectedStatus) = valid(body, &rng)
        case .headerFlood:
            c.largeBuffer = rng.percent(50)
            let target = rng.pick([smallLimit, largeLimit]) + rng.pick([-40, -3, -2, -1, 0, 0, 1, 2, 3, 40])
            let head = flood(target: target, plainLines: rng.percent(50), bodyLength: body.count, &rng)
            response = head + body
            c.expectedStatus = head.count <= (c.largeBuffer ? largeLimit : smallLimit) ? 200 : 502
        case .longValue:
            c.largeBuffer = rng.percent(50)
            let value = letters(rng.pick([100, 1000, 4000, 4050, 4100, 8000, 8150, 8200, 16000, 70000]), &rng)
            let head = Array("HTTP/1.1 200 OK\r\nX-Long: ".utf8) + value
                + Array("\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
            response = head + body
            c.expectedStatus = head.count <= (c.largeBuffer ? largeLimit : smallLimit) ? 200 : 502
        case .duplicateLength:
            let n = body.count
            // nginx refuses any second Content-Length, equal or not.
            let (values, ok) = rng.pick([
                (["\(n)", "\(n)"], false), (["\(n)", "\(n + 1)"], false), (["\(n)", " \(n) "], false),
                (["\(n), \(n)"], false), (["+\(n)"], false), (["-1"], false), (["0x10"], false), ([""], false),
                (["1234567890123456789"], false), (["\(n)", "\(n)", "\(n)"], false), (["\(n + 1)", "\(n)"], false),
                ([" \(n) "], true), (["\(n)"], true),
            ])
            response = Array(("HTTP/1.1 200 OK\r\n" + values.map { "Content-Length: \($0)\r\n" }.joined() + "\r\n").utf8)
                + body
            c.expectedStatus = ok ? 200 : 502
        case .transferEncoding:
            let (coding, chunkedLast) = rng.pick([
                ("gzip", false), ("chunked, gzip", false), ("identity", false), ("gzip, chunked", true),
                ("CHUNKED", true), ("chunked", true), ("chunked ,", false), ("x", false),
            ])
            let length = rng.percent(50) ? "Content-Length: \(body.count)\r\n" : ""
            let framed = chunkedLast ? chunked(body, &rng) : body
            response = Array("HTTP/1.1 200 OK\r\n\(length)Transfer-Encoding: \(coding)\r\n\r\n".utf8) + framed
            // nginx: exactly `chunked` (any case), never together with Content-Length.
            let accepted = coding.lowercased() == "chunked" && length.isEmpty
            c.expectedStatus = accepted ? 200 : 502
        case .oddStatusLine:
            if rng.percent(70) {
                response = Array((rng.pick(refusedStatusLines) + "\r\nContent-Length: 2\r\n\r\nhi").utf8)
                c.expectedStatus = 502
            } else {
                let (line, status) = rng.pick(acceptedStatusLines)
                response = Array((line + "\r\n\r\n").utf8) + body
                c.expectedStatus = status
            }
        case .interim:
            for _ in 0..<rng.inRange(1...6) {
                response += Array(rng.pick([
                    "HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 102 Processing\r\n\r\n",
                    "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nLink: </b.js>\r\n\r\n",
                ]).utf8)
            }
            if rng.percent(85) {
                let (final, status) = valid(body, &rng)
                response += final
                c.expectedStatus = status
            } else {
                c.expectedStatus = 502  // interim answers, then the close: no response at all
            }
        case .oddChunking:
            let size = rng.pick(["ffffffffffffffffff", "-1", "5 ", " 5", "5;ext=1", "5; a=\"b c\"", "0x5", "5\t",
                                  "fffffffffffffff", "5;\u{1}", "00005", "5\n"])
            let tail = rng.pick(["hello\r\n0\r\n\r\n", "helloX\r\n0\r\n\r\n", "hello0\r\n\r\n",
                                 "hello\r\n0\r\nX-Trailer: 1\r\n\r\n", "hello\r\n0\r\n", "hello\r\n0\r\n\n", "he"])
            response = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\(size)\r\n\(tail)".utf8)
        case .lengthMismatch:
            let declared = max(0, body.count + rng.pick([-50, -1, 1, 100, 100_000]))
            response = Array("HTTP/1.1 200 OK\r\nContent-Length: \(declared)\r\n\r\n".utf8) + body
            if declared < body.count { c.expectedStatus = 200 }
        case .earlyClose:
            let (full, _) = valid(body, &rng)
            let headLength = (full.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound ?? full.count)
            let cut = rng.pick([rng.inRange(1...17), rng.inRange(1...headLength), headLength, headLength - 1,
                                rng.inRange(headLength...full.count)])
            response = Array(full[..<min(cut, full.count)])
            if cut < headLength { c.expectedStatus = 502 }
        case .trickled:
            (response, c.expectedStatus) = valid(body, &rng)
        case .oddBytes:
            var (head, status) = (Array("HTTP/1.1 200 OK\r\nX-Name: value\r\nContent-Length: \(body.count)\r\n\r\n".utf8), 200)
            let odd: UInt8 = rng.pick([0x00, 0x01, 0x7F, 0x80, 0xC3, 0xFF])
            switch rng.below(3) {
            case 0:  // in the header name: never a token byte
                head.insert(odd, at: 17 + rng.below(6))
                status = 502
            case 1:  // in the value: obs-text is allowed, controls are not
                head.insert(odd, at: 26 + rng.below(5))
                status = odd >= 0x80 ? 200 : 502
            default:  // in the reason phrase
                head.insert(odd, at: 13 + rng.below(2))
                status = odd >= 0x80 ? 200 : 502
            }
            response = head + body
            c.expectedStatus = status
        case .bareLF:
            let head = "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: \(body.count)\r\n\r\n"
            var lines = head.components(separatedBy: "\r\n")
            let last = lines.removeLast()
            var text = ""
            var replaced = false
            for line in lines {
                let bare = rng.percent(40)
                replaced = replaced || bare
                text += line + (bare ? "\n" : "\r\n")
            }
            if !replaced { text = text.replacingOccurrences(of: "OK\r\n", with: "OK\n") }
            response = Array((text + last).utf8) + body
            c.expectedStatus = 502
        case .mutated, .mutatedTrickled:
            let (full, _) = valid(body, &rng)
            response = rng.percent(5) ? (0..<rng.inRange(1...300)).map { _ in rng.byte() }
                : ByteMutation.mutate(full, rng: &rng, maxEdits: rng.pick([1, 2, 8]))
        }

        if kind == .trickled || kind == .mutatedTrickled || (kind != .valid && rng.percent(10)) {
            for piece in ByteMutation.split(response, rng: &rng, maxPieces: 8) {
                c.steps.append(.write(piece))
                c.steps.append(.pause(Int64(rng.below(4))))
            }
        } else {
            c.steps.append(.write(response))
        }
        c.steps.append(.close)
        return c
    }

    /// A well-formed response with `body` (not always sent: 204 and 304 have none) and its status.
    static func valid(_ body: [UInt8], _ rng: inout SplitMix64) -> ([UInt8], Int) {
        switch rng.below(7) {
        case 0:
            return (Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body, 200)
        case 1:
            return (Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8) + chunked(body, &rng), 200)
        case 2:
            return (Array("HTTP/1.0 200 OK\r\nX-Old: yes\r\n\r\n".utf8) + body, 200)
        case 3:
            return (Array("HTTP/1.1 204 No Content\r\nX-Empty: 1\r\n\r\n".utf8), 204)
        case 4:
            return (Array("HTTP/1.1 201 Created\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body, 201)
        case 5:
            return (Array("HTTP/1.1 404 Not Found\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body, 404)
        default:
            return (Array("HTTP/1.1 200 OK\r\nServer: backend\r\nDate: x\r\nKeep-Alive: timeout=5\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body, 200)
        }
    }

    /// `body` in chunked framing, in random chunk sizes, sometimes with extensions and trailers.
    static func chunked(_ body: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var out: [UInt8] = []
        for piece in ByteMutation.split(body, rng: &rng, maxPieces: 6) where !piece.isEmpty {
            out += Array(String(piece.count, radix: 16, uppercase: rng.percent(50)).utf8)
            if rng.percent(20) { out += Array(";name=value".utf8) }
            out += Array("\r\n".utf8) + piece + Array("\r\n".utf8)
        }
        out += Array((rng.percent(20) ? "0\r\nX-Trailer: t\r\n\r\n" : "0\r\n\r\n").utf8)
        return out
    }

    /// A 200 head of exactly `target` bytes (status line to blank line) that announces `bodyLength`, made of
    /// `X:1` lines or `X-N: v` lines and a last header that pads it to the byte.
    static func flood(target: Int, plainLines: Bool, bodyLength: Int, _ rng: inout SplitMix64) -> [UInt8] {
        var head = "HTTP/1.1 200 OK\r\nContent-Length: \(bodyLength)\r\n"
        let padMinimum = "P: p\r\n\r\n".utf8.count
        var n = 0
        while n < 10_000 {
            let line = plainLines ? "X:1\r\n" : "X-\(n): v\r\n"
            if head.utf8.count + line.utf8.count + padMinimum > target { break }
            head += line
            n += 1
        }
        let pad = max(1, target - head.utf8.count - "P: \r\n\r\n".utf8.count)
        head += "P: " + String(repeating: "p", count: pad) + "\r\n\r\n"
        return Array(head.utf8)
    }

    static func letters(_ count: Int, _ rng: inout SplitMix64) -> [UInt8] {
        let start = rng.byte() % 26
        return (0..<count).map { UInt8(ascii: "a") + (start &+ UInt8(truncatingIfNeeded: $0)) % 26 }
    }
}
