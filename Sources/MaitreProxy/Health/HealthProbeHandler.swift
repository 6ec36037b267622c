import MaitreConfig
import NIOCore

/// One health probe on one fresh connection. `type=tcp`: the connect is the test (the module then peeks and
/// finds the connection neither reset nor closed). `type=http`: `check_http_send` goes out as written and the
/// status line that comes back decides (`HTTPProbeVerdict`). Reports exactly once, then closes the connection;
/// the probe's timeout is its schedule's.
final class HealthProbeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The module reads the status line from half a page that grows; a status line longer than this is no
    /// answer a health check should wait for.
    static let responseLimit = 4096

    private let check: HealthCheck
    private var received: [UInt8] = []
    private var report: ((ProbeResult) -> Void)?

    init(check: HealthCheck, report: @escaping (ProbeResult) -> Void) {
        self.check = check
        self.report = report
    }

    func channelActive(context: ChannelHandlerContext) {
        switch check.kind {
        case .tcp:
            finish(.alive, context: context)
        case .http:
            var request = context.channel.allocator.buffer(capacity: check.httpSend.count)
            request.writeBytes(check.httpSend)
            context.writeAndFlush(NIOAny(request), promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        guard report != nil else { return }
        received.append(contentsOf: bytes.readableBytesView.prefix(Self.responseLimit - received.count))
        if let verdict = HTTPProbeVerdict.evaluate(received, ended: false, check: check) {
            finish(verdict ? .alive : .protocolError, context: context)
        } else if received.count >= Self.responseLimit {
            finish(.protocolError, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Closed before a complete status line: the module's "incomplete response" failure.
        let verdict = HTTPProbeVerdict.evaluate(received, ended: true, check: check) ?? false
        finish(verdict ? .alive : .protocolError, context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? IOError {
            finish(.connectFailed(errno: error.errnoCode), context: context)
        } else {
            finish(.protocolError, context: context)
        }
    }

    private func finish(_ result: ProbeResult, context: ChannelHandlerContext) {
        guard let report else { return }
        self.report = nil
        report(result)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension HealthProbeHandler: Sendable {}
