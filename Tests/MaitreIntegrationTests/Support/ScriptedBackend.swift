import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A loopback upstream that answers with exactly the bytes a script dictates, however malformed, for tests of
/// what the proxy does with odd upstream responses. Per connection it waits for a complete request head
/// (up to "\r\n\r\n"), asks the script what to do for the head's request path, and runs the steps in order;
/// unless a step closed the connection it then waits for the next request head on the same connection.
/// Request bodies are not expected (the tests send GET); bytes after a head are taken as the next head.
final class ScriptedBackend: Sendable {
    enum Step: Sendable {
        /// Write and flush these bytes.
        case write([UInt8])
        /// Wait this many milliseconds (a scheduled task; the event loop stays free).
        case pause(Int64)
        /// Close the connection; the remaining steps are dropped.
        case close
    }

    typealias Script = @Sendable (_ path: String) -> [Step]
    /// A script that also gets the request's number on its connection (0 for the first), for upstreams whose
    /// answer depends on whether the connection is fresh or reused.
    typealias ConnectionScript = @Sendable (_ path: String, _ requestOnConnection: Int) -> [Step]

    struct Stats {
        var acceptedConnections = 0
        var openConnections = 0
        var requests = 0
        var children: [ObjectIdentifier: any Channel] = [:]
    }

    let channel: any Channel
    private let stats = NIOLockedValueBox(Stats())

    var port: Int { channel.localAddress!.port! }
    var address: String { "127.0.0.1:\(port)" }
    var acceptedConnections: Int { stats.withLockedValue { $0.acceptedConnections } }
    var openConnections: Int { stats.withLockedValue { $0.openConnections } }
    var requests: Int { stats.withLockedValue { $0.requests } }

    convenience init(group: any EventLoopGroup, script: @escaping Script) throws {
        try self.init(group: group, connectionScript: { path, _ in script(path) })
    }

    init(group: any EventLoopGroup, connectionScript script: @escaping ConnectionScript) throws {
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
                    try channel.pipeline.syncOperations.addHandler(ScriptedConnectionHandler(script: script, stats: stats))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()  // a bind always completes: bound or failed
    }

    /// Stops listening and closes every open connection.
    /// The waits are bounded: a close future always completes (already closed is an error, not a hang).
    func stop() {
        try? channel.close().wait()
        for child in stats.withLockedValue({ Array($0.children.values) }) {
            try? child.close().wait()
        }
    }
}

private final class ScriptedConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let script: ScriptedBackend.ConnectionScript
    /// Request heads taken on this connection so far.
    private var requestsOnConnection = 0
    private let stats: NIOLockedValueBox<ScriptedBackend.Stats>
    private var received: [UInt8] = []
    /// Steps of the current request still to run; nil while waiting for a request head.
    private var running: ArraySlice<ScriptedBackend.Step>?
    private var closed = false
    private static let headLimit = 64 * 1024
    private static let terminator: [UInt8] = Array("\r\n\r\n".utf8)

    init(script: @escaping ScriptedBackend.ConnectionScript, stats: NIOLockedValueBox<ScriptedBackend.Stats>) {
        self.script = script
        self.stats = stats
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        received.append(contentsOf: buffer.readableBytesView)
        if running == nil { startNextRequest(context: context) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        running = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Resets from the proxy are expected (it gives up on responses it refuses).
        closed = true
        context.close(promise: nil)
    }

    /// Takes one complete request head from `received`, if there is one, and starts its steps.
    private func startNextRequest(context: ChannelHandlerContext) {
        guard !closed else { return }
        guard let end = Self.headEnd(received) else {
            if received.count > Self.headLimit { close(context) }
            return
        }
        let head = received[..<end]
        received.removeFirst(end + Self.terminator.count)
        // Request line: METHOD SP target SP version; the path is the target up to any query.
        let lineEnd = head.firstIndex(of: UInt8(ascii: "\r")) ?? head.endIndex
        let words = head[..<lineEnd].split(separator: UInt8(ascii: " "))
        let target = words.count > 1 ? String(decoding: words[1], as: UTF8.self) : ""
        let path = String(target.prefix { $0 != "?" })
        stats.withLockedValue { $0.requests += 1 }
        running = ArraySlice(script(path, requestsOnConnection))
        requestsOnConnection += 1
        runSteps(context: context)
    }

    /// Runs steps until one must wait (a pause) or all are done; then looks for a next request.
    private func runSteps(context: ChannelHandlerContext) {
        while !closed, var steps = running, let step = steps.popFirst() {
            running = steps
            switch step {
            case .write(let bytes):
                var out = context.channel.allocator.buffer(capacity: bytes.count)
                out.writeBytes(bytes)
                context.writeAndFlush(Self.wrapOutboundOut(out), promise: nil)
            case .pause(let milliseconds):
                context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(milliseconds)) { [self] in
                    runSteps(context: context)
                }
                return
            case .close:
                close(context)
                return
            }
        }
        guard !closed else { return }
        running = nil
        startNextRequest(context: context)
    }

    private func close(_ context: ChannelHandlerContext) {
        closed = true
        running = nil
        context.close(promise: nil)
    }

    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4)
        where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }
}
