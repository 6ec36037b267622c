import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A real HTTP server on 127.0.0.1 for integration tests. It answers every request with its name and records
/// what it saw. Paths select behaviours:
/// - `/bytes/N` answers N bytes (streamed in 64 KiB pieces, Content-Length framed; `?chunked` for chunked)
/// - `/status/N` answers status N
/// - `/slow/MS` waits MS milliseconds before answering
/// - `/upload` reads the body and answers with its byte count and a cheap digest
/// - `/close` closes the connection without answering
/// - `/headers` answers with the request head it received, one `name: value` per line
final class TestBackend: Sendable {
    let name: String
    let channel: any Channel
    private let stats = NIOLockedValueBox(Stats())

    struct Stats {
        var acceptedConnections = 0
        var requests = 0
        var openConnections = 0
        var lastHead: HTTPRequestHead?
        var children: [ObjectIdentifier: any Channel] = [:]
        var heads: [HTTPRequestHead] = []
    }

    var port: Int { channel.localAddress!.port! }
    /// The loopback address it listens on (127.0.0.1 unless another 127/8 address was asked for).
    let host: String
    var address: String { "\(host):\(port)" }
    var acceptedConnections: Int { stats.withLockedValue { $0.acceptedConnections } }
    var requests: Int { stats.withLockedValue { $0.requests } }
    var openConnections: Int { stats.withLockedValue { $0.openConnections } }
    var lastHead: HTTPRequestHead? { stats.withLockedValue { $0.lastHead } }
    var heads: [HTTPRequestHead] { stats.withLockedValue { $0.heads } }

    /// `delay` postpones every answer; `http10` answers with HTTP/1.0 and no length (close-delimited).
    init(name: String, group: any EventLoopGroup, host: String = "127.0.0.1", port: Int = 0, delay: TimeAmount = .zero,
         http10: Bool = false) throws {
        self.name = name
        self.host = host
        let stats = self.stats
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                stats.withLockedValue {
                    $0.acceptedConnections += 1
                    $0.openConnections += 1
                    $0.children[ObjectIdentifier(channel)] = channel
                }
                channel.closeFuture.whenComplete { _ in
                    stats.withLockedValue {
                        $0.openConnections -= 1
                        $0.children[ObjectIdentifier(channel)] = nil
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        BackendHandler(name: name, stats: stats, delay: delay, http10: http10))
                }
            }
            .bind(host: host, port: port).wait()  // a bind always completes: bound or failed
    }

    /// Stops listening and closes every open connection, as a crashed server would.
    /// The waits are bounded: a close future always completes (already closed is an error, not a hang).
    func stop() {
        try? channel.close().wait()
        for child in stats.withLockedValue({ Array($0.children.values) }) {
            try? child.close().wait()
        }
    }
}

private final class BackendHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let name: String
    let stats: NIOLockedValueBox<TestBackend.Stats>
    let delay: TimeAmount
    let http10: Bool
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var checksum: UInt32 = 0

    init(name: String, stats: NIOLockedValueBox<TestBackend.Stats>, delay: TimeAmount, http10: Bool) {
        self.name = name
        self.stats = stats
        self.delay = delay
        self.http10 = http10
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
            checksum = 0
            stats.withLockedValue {
                $0.requests += 1
                $0.lastHead = head
                $0.heads.append(head)
            }
        case .body(let body):
            bodyBytes += body.readableBytes
            // A cheap digest (first byte of each part) so tests can tell bodies apart without a per-byte loop.
            if let first = body.getInteger(at: body.readerIndex, as: UInt8.self) {
                checksum = checksum &* 31 &+ UInt32(first)
            }
        case .end:
            guard let head else { return }
            var wait = delay
            if head.uri.hasPrefix("/slow/"), let ms = Int64(head.uri.dropFirst(6).prefix { $0.isNumber }) {
                wait = .milliseconds(ms)
            }
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            if wait > .zero {
                context.eventLoop.scheduleTask(in: wait) { bound.value.respond(context: boundContext.value, to: head) }
            } else {
                respond(context: context, to: head)
            }
        }
    }

    private func respond(context: ChannelHandlerContext, to head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        if path == "/close" {
            context.close(promise: nil)
            return
        }
        var status = HTTPResponseStatus.ok
        var text = "\(name)\n"
        if path.hasPrefix("/status/"), let code = Int(path.dropFirst(8)) {
            status = HTTPResponseStatus(statusCode: code)
        } else if path == "/upload" {
            text = "\(name) \(bodyBytes) \(checksum)\n"
        } else if path == "/headers" {
            text = "\(head.method.rawValue) \(head.uri) HTTP/\(head.version.major).\(head.version.minor)\n"
            for (n, v) in head.headers { text += "\(n.lowercased()): \(v)\n" }
        } else if path.hasPrefix("/bytes/"), let count = Int(path.dropFirst(7)) {
            streamBytes(count, chunked: query.contains("chunked"), context: context, head: head)
            return
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain")
        headers.add(name: "X-Backend", value: name)
        if !http10 { headers.add(name: "Content-Length", value: String(text.utf8.count)) }
        let version: HTTPVersion = http10 ? .http1_0 : .http1_1
        context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))),
                      promise: nil)
        if head.method != .HEAD {
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
        }
        finish(context: context, close: http10 || !head.isKeepAlive)
    }

    private func streamBytes(_ count: Int, chunked: Bool, context: ChannelHandlerContext, head: HTTPRequestHead) {
        var headers = HTTPHeaders()
        headers.add(name: "X-Backend", value: name)
        if chunked {
            headers.add(name: "Transfer-Encoding", value: "chunked")
        } else {
            headers.add(name: "Content-Length", value: String(count))
        }
        context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                      promise: nil)
        let piece = ByteBuffer(repeating: UInt8(ascii: "x"), count: min(count, 64 * 1024))
        sendPieces(of: piece, remaining: count, context: context, closeAfter: !head.isKeepAlive)
    }

    /// Writes `remaining` bytes in pieces, waiting for each write when the channel is not writable.
    private func sendPieces(of piece: ByteBuffer, remaining: Int, context: ChannelHandlerContext, closeAfter: Bool) {
        guard remaining > 0 else {
            finish(context: context, close: closeAfter)
            return
        }
        let n = min(remaining, piece.readableBytes)
        let written = context.writeAndFlush(Self.wrapOutboundOut(.body(.byteBuffer(piece.getSlice(at: 0, length: n)!))))
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let next = { @Sendable in
            let (handler, context) = bound.value
            handler.sendPieces(of: piece, remaining: remaining - n, context: context, closeAfter: closeAfter)
        }
        if context.channel.isWritable {
            context.eventLoop.execute(next)
        } else {
            written.whenSuccess(next)
        }
    }

    private func finish(context: ChannelHandlerContext, close: Bool) {
        if close {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
        } else {
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
