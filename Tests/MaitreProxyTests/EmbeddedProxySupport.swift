#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreConfig
import NIOCore
import NIOEmbedded
import XCTest

@testable import MaitreProxy

/// Hands out EmbeddedChannels on the test's loop as upstream connections, already connected, and keeps them for
/// the test: connects, failures, retries and pooling are then driven byte by byte without sockets.
final class EmbeddedConnector: UpstreamConnector {
    let loop: EmbeddedEventLoop
    /// The connections handed out, in order, with the peer index each was opened to.
    private(set) var channels: [(peer: Int, channel: EmbeddedChannel)] = []
    /// Every connect asked for, refused ones included: which peers got traffic.
    private(set) var attempts: [Int] = []
    /// Peers whose connects fail at once with ECONNREFUSED (a server that is down).
    var refusing: Set<Int> = []

    init(loop: EmbeddedEventLoop) { self.loop = loop }

    func connect(
        to address: SocketAddress, peerIndex: Int, connectTimeout: TimeAmount, writeBufferHigh: Int,
        loop context: LoopContext
    ) -> EventLoopFuture<UpstreamConnection> {
        attempts.append(peerIndex)
        if refusing.contains(peerIndex) {
            return loop.makeFailedFuture(IOError(errnoCode: ECONNREFUSED, reason: "connect"))
        }
        let channel = EmbeddedChannel(loop: loop)
        do {
            let connection = try UpstreamConnection.attach(
                to: channel, address: address, peerIndex: peerIndex, loop: context)
            try channel.connect(to: address).wait()
            channels.append((peerIndex, channel))
            return loop.assumeIsolated().makeSucceededFuture(connection)
        } catch {
            return loop.makeFailedFuture(error)
        }
    }
}

/// A proxy with one configuration on one EmbeddedEventLoop: client connections are EmbeddedChannels carrying an
/// `HTTPProxyHandler`, upstream connections come from an `EmbeddedConnector`, and time only moves when the test
/// calls `loop.advanceTime(by:)`. No sockets, no sleeps.
final class EmbeddedProxy {
    let loop = EmbeddedEventLoop()
    let snapshot: ProxySnapshot
    let context: LoopContext
    let connector: EmbeddedConnector
    private var clients: [EmbeddedChannel] = []

    /// `config` is nginx-dialect text; its servers listen on 127.0.0.1:8080.
    init(_ config: String) throws {
        let configuration = try ConfigLoader.load(text: config, file: "/tmp/maitre-embedded-test.conf", prefix: "/tmp/")
        snapshot = try ProxySnapshot(configuration: configuration)
        // The error log is silenced: the tests look at what clients and upstreams see.
        context = LoopContext(snapshot: snapshot, eventLoop: loop, log: ErrorLog(stderrAt: .emerg), index: 0,
                              loopCount: 1)
        connector = EmbeddedConnector(loop: loop)
        context.connector = connector
    }

    /// A client connection accepted on 127.0.0.1:8080, as ProxyServer's child channels are set up.
    func connectClient() throws -> EmbeddedChannel {
        let endpoint = ListenEndpoint(host: "127.0.0.1", port: 8080)
        let routes = try XCTUnwrap(snapshot.endpoints[endpoint])
        let channel = EmbeddedChannel(loop: loop)
        clients.append(channel)
        try channel.pipeline.syncOperations.addHandler(HTTPProxyHandler(
            loop: context, endpoint: endpoint, routes: routes, connectionNumber: context.takeConnectionNumber()))
        try channel.connect(to: SocketAddress(ipAddress: "10.0.0.1", port: 4000)).wait()
        return channel
    }

    /// The upstream connection opened `index`-th (from 0), failing the test instead of trapping when there is none.
    func upstream(_ index: Int, file: StaticString = #filePath, line: UInt = #line) throws -> EmbeddedChannel {
        let channels = connector.channels
        guard index < channels.count else {
            XCTFail("only \(channels.count) upstream connection(s) opened, wanted #\(index)", file: file, line: line)
            throw EmbeddedProxyError.noSuchUpstream
        }
        return channels[index].channel
    }

    /// Closes every client and upstream channel and drops what is still scheduled on the loop: an EmbeddedChannel
    /// left open keeps its pipeline and handlers alive for the rest of the test process, where LiveObjects (the
    /// integration tests' leak checks, same process) would count them.
    func finish() {
        for channel in clients + connector.channels.map(\.channel) {
            _ = try? channel.finish(acceptAlreadyClosed: true)
        }
        loop.run()
        try? loop.syncShutdownGracefully()
    }
}

enum EmbeddedProxyError: Error {
    case noSuchUpstream
}

extension EmbeddedChannel {
    /// What arrives from the other end (the client's request, the upstream's response), then the loop turn that
    /// follows, so tasks the handlers queued for "later in this turn" have run.
    func receive(_ text: String) throws {
        try writeInbound(ByteBuffer(string: text))
        embeddedEventLoop.run()
    }

    /// Everything the handlers wrote on this channel since the last call, as text.
    func sent() throws -> String {
        var text = ""
        while let buffer = try readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }
}

/// Tests that run EmbeddedProxies: every proxy made with `makeProxy` is finished in tearDown, which then checks
/// that nothing outlived it (client handlers, exchanges and upstream connections back to their counts from
/// before the test).
class EmbeddedProxyTestCase: XCTestCase {
    private var proxies: [EmbeddedProxy] = []
    /// LiveObjects' counts before the test (nil each in release builds, which do not count).
    private var liveBefore: [Int?] = []

    private static func liveCounts() -> [Int?] { LiveObjects.Kind.allCases.map { LiveObjects.count($0) } }

    override func setUp() {
        super.setUp()
        liveBefore = Self.liveCounts()
    }

    override func tearDown() {
        for proxy in proxies { proxy.finish() }
        proxies = []
        XCTAssertEqual(Self.liveCounts(), liveBefore,
                       "[client handlers, exchanges, upstream connections] left alive after the test")
        super.tearDown()
    }

    /// A proxy running `config`, finished after the test.
    func makeProxy(_ config: String) throws -> EmbeddedProxy {
        let proxy = try EmbeddedProxy(config)
        proxies.append(proxy)
        return proxy
    }
}
