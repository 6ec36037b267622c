import MaitreBalancing

/// Odd client requests for ProxyFuzzTests: a pure function from a case index to the bytes a client sends.
/// Requests carry `Connection: close` (unless a mutation destroyed it) so that each case ends in a close.
struct ClientFuzzCase {
    enum Kind: Int, CaseIterable {
        case valid, mutated, headerFlood, longURI, oddMethod, badVersion, duplicates, oddChunked, shortBody,
            pipelined, trickled, oddBytes, lineEnds, random, expectContinue
    }

    var kind: Kind
    /// Sent in order, with `pausesMicroseconds[i]` after piece i.
    var pieces: [[UInt8]]
    var pausesMicroseconds: [Int]
    /// Half-close the connection after sending (the client gives up on the rest of its request).
    var halfClose = false
    /// The first response is to a GET with a Content-Length framed answer, so responses behind it can be checked.
    var followsPipelined = false
    /// The status class the final answer must have (2 for 2xx) when the case determines it.
    var expectedClass: Int?

    var bytes: [UInt8] { pieces.flatMap { $0 } }
}

enum ClientFuzzCases {
    static let seed: UInt64 = 0x6D61_6974_7265_0002

    static func seeds(_ index: Int) -> [String] {
        [
            "GET /p/\(index)?q=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: fuzz\r\nConnection: close\r\n\r\n",
            "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world",
            "PUT /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            "GET http://x/p/abs?q=1 HTTP/1.0\r\nUser-Agent: fuzz\r\n\r\n",
            "HEAD /p/h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ]
    }

    static func make(_ index: Int) -> ClientFuzzCase {
        var rng = SplitMix64(seed: seed, index: index)
        let kind = ClientFuzzCase.Kind.allCases[index % ClientFuzzCase.Kind.allCases.count]
        let seed = rng.pick(seeds(index))
        var c = ClientFuzzCase(kind: kind, pieces: [], pausesMicroseconds: [])
        var request: [UInt8]
        switch kind {
        case .valid:
            request = Array(seed.utf8)
            c.expectedClass = 2
        case .mutated:
            request = ByteMutation.mutate(Array(seed.utf8), rng: &rng, maxEdits: rng.pick([1, 2, 6]))
            c.halfClose = rng.percent(30)
        case .headerFlood:
            let target = rng.pick([1024, 8192, 32768]) + rng.pick([-30, -2, -1, 0, 1, 2, 30])
            if rng.percent(30) {
                // One long line near the line limit.
                let fixed = "GET /p/flood HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Long: \r\n\r\n".utf8.count
                request = Array(("GET /p/flood HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Long: "
                    + String(repeating: "v", count: max(1, target - fixed)) + "\r\n\r\n").utf8)
            } else {
                var head = "GET /p/flood HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                var n = 0
                while n < 10_000, head.utf8.count + 16 + 2 <= target {
                    head += "X-\(n): " + String(repeating: "v", count: 8) + "\r\n"
                    n += 1
                }
                head += "P: " + String(repeating: "p", count: max(1, target - head.utf8.count - 7)) + "\r\n\r\n"
                request = Array(head.utf8)
            }
        case .longURI:
            let length = rng.pick([1000, 4000, 8150, 8170, 8180, 8192, 8200, 9000, 40000])
            request = Array(("GET /p/" + String(repeating: "a", count: length) + " HTTP/1.1\r\nHost: x\r\n"
                + "Connection: close\r\n\r\n").utf8)
        case .oddMethod:
            let method = rng.pick(["get", "G ET", "GETT", "M-SEARCH", "FOO_BAR", "", " GET", "CONNECT", "TRACE",
                                   "OPTIONS", "PROPFIND", String(repeating: "A", count: 300), "GE\u{0}T", "GÉT", "DELETE"])
            request = Array("\(method) /p/m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)
        case .badVersion:
            let version = rng.pick(["HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "HTTP/1", "HTTP/1.1x", "http/1.1",
                                    "HTTP/10.0", "HTTP/1.01", "HTTP/1.1 ", "", "HTTP/9.9", "HTTP/1.1\t", "HTTP/1.0001",
                                    "HTTP/01.1", "HTTP/1.1 HTTP/1.1"])
            request = Array("GET /p/v \(version)\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)
        case .duplicates:
            let headers = rng.pick([
                "Host: x\r\nHost: x", "Host: x\r\nHost: y", "Host: x\r\nContent-Length: 3\r\nContent-Length: 3",
                "Host: x\r\nContent-Length: 3\r\nContent-Length: 4", "Host: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked",
                "Host: x\r\nTransfer-Encoding: gzip", "Host: x\r\nTransfer-Encoding: chunked, gzip",
                "Host: x\r\nTransfer-Encoding: gzip, chunked", "Host: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
                "Host: x\r\nContent-Length: -1", "Host: x\r\nContent-Length: +3", "Host: x\r\nContent-Length: 3, 3",
                "Host: x\r\nContent-Length: 99999999999999999999", "Host:", "Host: a b", "Host: [::1]", "Host: x:99999",
                "Host: ..", "Host: x/y", "Host: x\r\nContent-Length: 999999999999",
            ])
            request = Array("POST /upload HTTP/1.1\r\n\(headers)\r\nConnection: close\r\n\r\nabc".utf8)
            c.halfClose = rng.percent(50)
        case .oddChunked:
            let size = rng.pick(["ffffffffffffffffffff", "-1", "5 ", " 5", "5;ext=1", "5;\u{1}", "0x5", "5\t", "00005",
                                  "fffffffffffffff", "5\n", "", "5;a=\"b\""])
            let tail = rng.pick(["hello\r\n0\r\n\r\n", "helloX\r\n0\r\n\r\n", "hello0\r\n\r\n", "hello\r\n0\r\nT: 1\r\n\r\n",
                                 "hello\r\n0\r\n", "he", "hello\r\n0\r\n\n", "hello\r\n"])
            request = Array(("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + size + "\r\n" + tail).utf8)
            c.halfClose = rng.percent(50)
        case .shortBody:
            let declared = rng.pick([10, 100, 70_000])
            request = Array("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: \(declared)\r\nConnection: close\r\n\r\n".utf8)
                + BackendFuzzCases.letters(rng.below(declared), &rng)
            c.halfClose = true
        case .pipelined:
            let garbage: [UInt8] = rng.pick([
                (0..<rng.inRange(1...200)).map { _ in rng.byte() },
                ByteMutation.mutate(Array(rng.pick(seeds(index)).utf8), rng: &rng),
                Array("GET /p/2 HTTP/1.1\r\nHost: x\r\n".utf8),
                Array("GET /p/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8),
                Array("\r\n\r\n\r\n".utf8),
            ])
            request = Array("GET /p/first HTTP/1.1\r\nHost: x\r\n\r\n".utf8) + garbage
            c.followsPipelined = true
            c.halfClose = rng.percent(30)
        case .trickled:
            request = Array(seed.utf8)
            c.expectedClass = 2
        case .oddBytes:
            var bytes = Array(seed.utf8)
            // Somewhere in the header lines: after the request line, before the blank line.
            let lineEnd = bytes.firstIndex(of: 10)! + 1
            let headEnd = bytes.firstRange(of: Array("\r\n\r\n".utf8))!.lowerBound
            for _ in 0..<rng.inRange(1...3) {
                bytes.insert(rng.pick([0x00, 0x01, 0x7F, 0x80, 0xC3, 0xFF]), at: rng.inRange(lineEnd...headEnd))
            }
            request = bytes
        case .lineEnds:
            var text = seed
            switch rng.below(4) {
            case 0: text = text.replacingOccurrences(of: "\r\n", with: "\n")
            case 1: text = text.replacingOccurrences(of: "\r\nHost", with: "\rHost")
            case 2: text = text.replacingOccurrences(of: "\r\nHost: x", with: "\r\nHost:\r\n x")
            default: text = text.replacingOccurrences(of: "\r\nConnection", with: "\r\n\tX-Fold: y\r\nConnection")
            }
            request = Array(text.utf8)
            c.halfClose = rng.percent(50)
        case .random:
            request = (0..<rng.inRange(1...600)).map { _ in rng.byte() }
            c.halfClose = rng.percent(50)
        case .expectContinue:
            request = Array("POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".utf8)
            c.expectedClass = 2
        }

        if kind == .trickled || (kind != .valid && kind != .expectContinue && rng.percent(10)) {
            c.pieces = ByteMutation.split(request, rng: &rng, maxPieces: 10)
        } else {
            c.pieces = [request]
        }
        c.pausesMicroseconds = c.pieces.map { _ in c.pieces.count > 1 ? rng.below(4) * 1000 : 0 }
        return c
    }
}
