import Atomics
import MaitreConfig
import NIOCore

/// The `stream` listener kind (TCP): one `StreamSession` per connection, on the configuration current at accept.
enum StreamListener {
    static func initialize(_ channel: any Channel, endpoint: ListenEndpoint, loop: LoopContext) throws {
        guard let route = loop.runtime.snapshot.streamEndpoints[endpoint] else {
            throw ChannelError.ioOnClosedChannel  // a reload removed the listener; it is closing
        }
        loop.stats.accepted.wrappingIncrement(ordering: .relaxed)
        guard loop.admitConnection() else { throw ChannelError.ioOnClosedChannel }
        loop.stats.handled.wrappingIncrement(ordering: .relaxed)
        let settings = route.server.settings
        let readsHeader = route.proxyProtocolEndpoints.contains(endpoint)
        let session = StreamSession(
            client: channel, route: route, endpoint: endpoint, loop: loop,
            connectionNumber: loop.takeConnectionNumber(), awaitingProxyHeader: readsHeader)
        if readsHeader {
            let boundSession = NIOLoopBound(session, eventLoop: channel.eventLoop)
            try channel.pipeline.syncOperations.addHandler(ProxyProtocolReader(
                timeout: .milliseconds(settings.proxyProtocolTimeout.milliseconds),
                onHeader: { boundSession.value.proxyProtocolRead($0) },
                onFailure: { boundSession.value.proxyProtocolFailed($0) }))
        }
        let handler = StreamRelayHandler(session: session, side: .client)
        try channel.pipeline.syncOperations.addHandler(handler)
        session.clientHandler = handler
        if let options = channel.syncOptions {
            try options.setOption(.allowRemoteHalfClosure, value: settings.halfClose)
            try options.setOption(
                .writeBufferWaterMark, value: .init(low: settings.bufferSize / 2, high: max(settings.bufferSize, 1)))
            try options.setOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(
                    minimum: 64, initial: min(2048, settings.bufferSize), maximum: max(settings.bufferSize, 64)))
        }
    }
}
