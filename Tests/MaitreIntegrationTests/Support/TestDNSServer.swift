import MaitreBalancing
import MaitreWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A DNS server on 127.0.0.1 for the run-time resolution tests: answers A, AAAA and SRV questions from a table
/// the test changes while the proxy runs, counts the questions, and can be told to stay silent (a dead name
/// server) or to answer with an error code.
final class TestDNSServer: Sendable {
    struct Zone: Sendable {
        /// Records by (normalized name, type); a name with none of any type is NXDOMAIN.
        var records: [String: [DNSRecord]] = [:]
        var silent = false
        /// An rcode to answer every question with (SERVFAIL = 2), nil for normal answers.
        var failure: UInt8?
        var questions = 0
        /// When > 0, every question is answered with this many mutated copies of its answer (the id kept, other
        /// bytes flipped, cut or extended from a fixed seed) and never the answer itself.
        var mutations = 0
        var mutationCases = 0
    }

    let channel: any Channel
    private let zone: NIOLockedValueBox<Zone>

    var port: Int { channel.localAddress?.port ?? 0 }

    init(group: any EventLoopGroup) throws {
        let zone = NIOLockedValueBox(Zone())
        self.zone = zone
        channel = try DatagramBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DNSAnswerer(zone: zone))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    /// Replaces the records of `name` (A, AAAA, SRV as given).
    func set(_ name: String, _ records: [DNSRecord]) {
        zone.withLockedValue { $0.records[DNSQuery.normalized(name)] = records }
    }

    func setSilent(_ silent: Bool) { zone.withLockedValue { $0.silent = silent } }
    func setMutations(_ count: Int) { zone.withLockedValue { $0.mutations = count } }
    /// Mutated answers sent so far.
    var mutationCases: Int { zone.withLockedValue { $0.mutationCases } }
    func setFailure(_ rcode: UInt8?) { zone.withLockedValue { $0.failure = rcode } }
    var questions: Int { zone.withLockedValue { $0.questions } }

    func stop() { try? channel.close().wait() }
}

private final class DNSAnswerer: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    let zone: NIOLockedValueBox<TestDNSServer.Zone>

    init(zone: NIOLockedValueBox<TestDNSServer.Zone>) { self.zone = zone }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let bytes = envelope.data.getBytes(at: envelope.data.readerIndex, length: envelope.data.readableBytes),
            let query = DNSQuery.parse(bytes)
        else { return }
        let answers: [[UInt8]] = zone.withLockedValue { zone in
            zone.questions += 1
            if zone.silent { return [] }
            var builder = DNSResponseBuilder(id: query.id, questionName: query.name, questionType: query.type)
            if let failure = zone.failure {
                builder.rcode = failure
            } else if let records = zone.records[DNSQuery.normalized(query.name)] {
                builder.answers = records.filter { $0.type == query.type }
            } else {
                builder.rcode = DNSResponse.ResponseCode.nameError
            }
            guard let clean = builder.encode() else { return [] }
            guard zone.mutations > 0 else { return [clean] }
            var out: [[UInt8]] = []
            for _ in 0..<zone.mutations {
                var rng = SplitMix64(seed: 0xD15, index: zone.mutationCases)
                zone.mutationCases += 1
                out.append(Self.mutate(clean, &rng))
            }
            return out
        }
        for answer in answers {
            var buffer = context.channel.allocator.buffer(capacity: answer.count)
            buffer.writeBytes(answer)
            context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: buffer)),
                          promise: nil)
        }
        context.flush()
    }

    /// Flips, cuts or extends bytes after the id (kept, so the resolver reads the datagram as its answer).
    private static func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var out = bytes
        switch rng.below(4) {
        case 0:
            for _ in 0..<(1 + rng.below(4)) where out.count > 2 {
                out[2 + rng.below(out.count - 2)] ^= UInt8(truncatingIfNeeded: 1 << rng.below(8))
            }
        case 1:
            out = Array(out.prefix(2 + rng.below(max(1, out.count - 2))))
        case 2:
            // A count field (question, answer, authority, additional) made large.
            let field = 4 + 2 * rng.below(4)
            if out.count > field + 1 { out[field] = 0xFF; out[field + 1] = UInt8(truncatingIfNeeded: rng.next()) }
        default:
            // A compression pointer at a random place, pointing anywhere (itself included).
            if out.count > 14 {
                let at = 12 + rng.below(out.count - 13)
                out[at] = 0xC0 | UInt8(truncatingIfNeeded: rng.below(0x40))
                out[at + 1] = UInt8(truncatingIfNeeded: rng.next())
            }
        }
        return out
    }
}
