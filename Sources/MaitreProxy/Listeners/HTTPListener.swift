import Atomics
import MaitreWire
import MaitreConfig
import NIOCore

/// The `http` listener kind: one `HTTPProxyHandler` per connection, serving the loop's current configuration.
enum HTTPListener {
    static func initialize(_ channel: any Channel, endpoint: ListenEndpoint, loop: LoopContext) throws {
        guard let routes = loop.runtime.snapshot.endpoints[endpoint] else {
            // The listener is closing (a reload removed it): nothing here serves this endpoint any more.
            throw ChannelError.ioOnClosedChannel
        }
        loop.stats.accepted.wrappingIncrement(ordering: .relaxed)
        guard loop.admitConnection() else {
            // nginx closes an accepted connection it has no slot for.
            throw ChannelError.ioOnClosedChannel
        }
        loop.stats.handled.wrappingIncrement(ordering: .relaxed)
        let settings = routes.route(host: nil).server.settings
        let handler = HTTPProxyHandler(
            loop: loop, endpoint: endpoint, routes: routes, connectionNumber: loop.takeConnectionNumber())
        if routes.proxyProtocol {
            // The header comes before the first request; client_header_timeout bounds the wait, as in nginx.
            let boundHandler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
            let log = loop.log
            try channel.pipeline.syncOperations.addHandler(ProxyProtocolReader(
                timeout: .milliseconds(settings.clientHeaderTimeout.milliseconds),
                onHeader: { header in boundHandler.value.proxyProtocolRead(header) },
                onFailure: { message in
                    log.log(.error, message + ", client: \(channel.remoteAddress?.ipAddress ?? "")",
                            connection: boundHandler.value.connectionNumber)
                }))
        }
        try channel.pipeline.syncOperations.addHandler(handler)
        let high = max(settings.proxyBuffers.count * settings.proxyBuffers.size, 8192)
        if let options = channel.syncOptions {
            try options.setOption(.writeBufferWaterMark, value: .init(low: high / 2, high: high))
            try options.setOption(.maxMessagesPerRead, value: 16)
            // A client connection keeps its receive buffer between reads: start it small (request heads are a
            // few hundred bytes; nginx's client_header_buffer_size is 1k) and let it grow for bodies.
            try options.setOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
        }
    }
}
