import MaitreBalancing
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A "Redis" that answers every connection with hostile bytes: garbage, oversized or deeply nested values,
/// plausible handshake answers followed by forged messages and pages, silence, and everything cut into tiny
/// pieces. Each connection's script is a pure function of (seed, connection number), so a failure reproduces.
final class HostileRedis: Sendable {
    let channel: any Channel
    private let accepted = NIOLockedValueBox(0)

    var port: Int { channel.localAddress?.port ?? 0 }
    var address: String { "127.0.0.1:\(port)" }
    var connections: Int { accepted.withLockedValue { $0 } }

    init(group: any EventLoopGroup, seed: UInt64, zoneChannel: String, serverIDs: [String]) throws {
        let accepted = self.accepted
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let index = accepted.withLockedValue { count -> Int in
                    count += 1
                    return count
                }
                var random = SplitMix64(seed: seed, index: index)
                let script = Self.script(&random, zoneChannel: zoneChannel, serverIDs: serverIDs)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Player(script: script))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    func stop() { channel.close(promise: nil) }

    struct Script {
        var chunks: [[UInt8]]
        var pauseMilliseconds: Int64
        var closeAtEnd: Bool
    }

    static func script(_ random: inout SplitMix64, zoneChannel: String, serverIDs: [String]) -> Script {
        func bulk(_ bytes: [UInt8]) -> [UInt8] { Array("$\(bytes.count)\r\n".utf8) + bytes + [0x0D, 0x0A] }
        func text(_ string: String) -> [UInt8] { bulk(Array(string.utf8)) }
        func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } }
        func forgedMessage() -> [UInt8] {
            let id = serverIDs.randomElement(using: &random) ?? "x"
            let payload: [UInt8]
            switch Int.random(in: 0..<4, using: &random) {
            case 0: payload = Array("m1 other \(Int64.random(in: 0...Int64.max / 2, using: &random)) \(id.utf8.count) \(id) s\(Int.random(in: 0..<50, using: &random))".utf8)
            case 1: payload = Array("m1 other 0 \(id.utf8.count) \(id) ".utf8) + randomBytes(Int.random(in: 0..<40, using: &random))
            case 2: payload = Array("m1 other 1 99999 ".utf8) + randomBytes(8)
            default: payload = randomBytes(Int.random(in: 0..<60, using: &random))
            }
            let channel = Bool.random(using: &random) ? zoneChannel : String(decoding: randomBytes(6), as: UTF8.self)
            return Array("*4\r\n".utf8) + text("pmessage") + text("p*") + text(channel) + bulk(payload)
        }
        func forgedPage() -> [UInt8] {
            let keys = (0..<Int.random(in: 0..<5, using: &random)).map { _ in bulk(randomBytes(Int.random(in: 0..<12, using: &random))) }
            let page = Array("*2\r\n".utf8) + text(String(Int.random(in: 0..<3, using: &random))) + Array("*\(keys.count)\r\n".utf8) + keys.flatMap { $0 }
            let values = (0..<Int.random(in: 0..<5, using: &random)).map { _ in
                Bool.random(using: &random) ? Array("$-1\r\n".utf8) : text("\(Int.random(in: 0...Int.max, using: &random)) \(serverIDs.randomElement(using: &random) ?? "")")
            }
            return page + Array("*\(values.count)\r\n".utf8) + values.flatMap { $0 }
        }
        var bytes: [UInt8] = []
        var closeAtEnd = Bool.random(using: &random)
        switch Int.random(in: 0..<6, using: &random) {
        case 0:
            bytes = randomBytes(Int.random(in: 1...300, using: &random))
        case 1:
            bytes = Array("+OK\r\n*3\r\n".utf8) + text("psubscribe") + text("p*") + Array(":1\r\n".utf8)
            for _ in 0..<Int.random(in: 1...40, using: &random) { bytes += forgedMessage() }
        case 2:
            bytes = Array("+OK\r\n+OK\r\n".utf8)
            for _ in 0..<Int.random(in: 1...10, using: &random) { bytes += forgedPage() }
        case 3:
            closeAtEnd = false  // silence: the link must give up on its own
        case 4:
            let oversized = ["$99999999999\r\n", "*100000000\r\n", String(repeating: "*1\r\n", count: 40) + ":1\r\n",
                             "+" + String(repeating: "a", count: 5000) + "\r\n", ":99999999999999999999\r\n"]
            bytes = Array((oversized.randomElement(using: &random) ?? "").utf8)
        default:
            bytes = Array("+OK\r\n".utf8) + forgedMessage() + forgedPage() + forgedMessage()
            for _ in 0..<Int.random(in: 0...3, using: &random) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
        }
        var chunks: [[UInt8]] = []
        var rest = bytes[...]
        while !rest.isEmpty {
            let size = min(rest.count, Int.random(in: 1...64, using: &random))
            chunks.append(Array(rest.prefix(size)))
            rest = rest.dropFirst(size)
        }
        return Script(chunks: chunks, pauseMilliseconds: Int64.random(in: 0...5, using: &random), closeAtEnd: closeAtEnd)
    }

    private final class Player: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private let script: Script
        init(script: Script) { self.script = script }

        func channelActive(context: ChannelHandlerContext) {
            play(0, context.channel)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {}  // commands are read and ignored

        private func play(_ index: Int, _ channel: any Channel) {
            guard index < script.chunks.count else {
                if script.closeAtEnd { channel.close(promise: nil) }
                return
            }
            channel.writeAndFlush(ByteBuffer(bytes: script.chunks[index]), promise: nil)
            channel.eventLoop.scheduleTask(in: .milliseconds(script.pauseMilliseconds)) { [self] in
                play(index + 1, channel)
            }
        }
    }
}
