#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP server for the stream tests: greets each connection with "NAME\n", echoes what it receives, and when the
/// client ends its input answers "bye NAME\n" and closes (so a test sees whether the end was passed on).
final class TCPEchoServer: Sendable {
    let name: String
    let port: Int
    private let channel: any Channel
    private let counts = NIOLockedValueBox((connections: 0, bytes: 0))

    /// `greetingDelay`: how long the greeting waits (a slow server's first byte).
    init(name: String, group: any EventLoopGroup, port: Int = 0, greetingDelay: TimeAmount = .zero) throws {
        self.name = name
        let counts = self.counts
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        EchoHandler(name: name, counts: counts, greetingDelay: greetingDelay))
                }
            }
            .bind(host: "127.0.0.1", port: port).wait()
        self.port = channel.localAddress?.port ?? 0
    }

    var address: String { "127.0.0.1:\(port)" }
    var connections: Int { counts.withLockedValue { $0.connections } }
    var bytes: Int { counts.withLockedValue { $0.bytes } }

    func stop() { try? channel.close().wait() }
}

private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let name: String
    let counts: NIOLockedValueBox<(connections: Int, bytes: Int)>
    let greetingDelay: TimeAmount

    init(name: String, counts: NIOLockedValueBox<(connections: Int, bytes: Int)>, greetingDelay: TimeAmount) {
        self.name = name
        self.counts = counts
        self.greetingDelay = greetingDelay
    }

    func channelActive(context: ChannelHandlerContext) {
        counts.withLockedValue { $0.connections += 1 }
        let greeting = ByteBuffer(string: name + "\n")
        guard greetingDelay > .zero else { return context.writeAndFlush(wrapOutboundOut(greeting), promise: nil) }
        let channel = context.channel
        context.eventLoop.scheduleTask(in: greetingDelay) { channel.writeAndFlush(greeting, promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        counts.withLockedValue { $0.bytes += buffer.readableBytes }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "bye \(name)\n"))).whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// A UDP server for the stream tests: answers each datagram with "NAME:" and the datagram, `replies` times.
final class UDPEchoServer: Sendable {
    let name: String
    let port: Int
    private let channel: any Channel
    private let received = NIOLockedValueBox(0)

    init(name: String, group: any EventLoopGroup, replies: Int = 1, port: Int = 0) throws {
        self.name = name
        let received = self.received
        channel = try DatagramBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        UDPEchoHandler(name: name, replies: replies, received: received))
                }
            }
            .bind(host: "127.0.0.1", port: port).wait()
        self.port = channel.localAddress?.port ?? 0
    }

    var address: String { "127.0.0.1:\(port)" }
    var datagrams: Int { received.withLockedValue { $0 } }

    func stop() { try? channel.close().wait() }
}

private final class UDPEchoHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    let name: String
    let replies: Int
    let received: NIOLockedValueBox<Int>

    init(name: String, replies: Int, received: NIOLockedValueBox<Int>) {
        self.name = name
        self.replies = replies
        self.received = received
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        received.withLockedValue { $0 += 1 }
        var answer = ByteBuffer(string: name + ":")
        var body = envelope.data
        answer.writeBuffer(&body)
        for _ in 0..<replies {
            context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: answer)),
                          promise: nil)
        }
        context.flush()
    }
}

/// A blocking UDP client socket on loopback with a receive timeout.
final class TestUDPClient {
    private let fd: Int32

    init(timeoutMilliseconds: Int = 2000) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestHTTPClient.Failure(description: "socket() failed") }
        var tv = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: Int((timeoutMilliseconds % 1000) * 1000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String, to port: Int) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let bytes = Array(text.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes {
                    sendto(fd, $0.baseAddress, $0.count, 0, socketAddress, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// The next datagram's text, nil when none arrives within the timeout.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}

extension TestHTTPClient {
    /// Reads raw bytes until `count` arrived, the peer closed, or the timeout passed.
    func receive(count: Int) -> [UInt8] {
        var out: [UInt8] = []
        while out.count < count {
            let (bytes, end) = readUntilClose(limit: count - out.count)
            out += bytes
            if end != .tooLong { break }
        }
        return out
    }
}
