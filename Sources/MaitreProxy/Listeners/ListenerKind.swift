import MaitreConfig
import NIOCore

/// What a listening socket serves. Each kind builds the pipeline of the connections it accepts, on the loop that
/// accepted them; `ProxyServer` binds, keeps and closes listeners without knowing what they serve: `http` for
/// requests, `stream` and `datagram` for the stream context's TCP and UDP servers. A reload keeps a listener whose
/// endpoint and kind both stay. (A kind change on one address binds the new socket before the old one closes,
/// which fails without `reuseport`: the stream kinds must close first there.)
enum ListenerKind: Hashable, Sendable {
    case http
    /// `stream { server { listen PORT; } }`: TCP sessions.
    case stream
    /// `stream { server { listen PORT udp; } }`: datagram sessions.
    case datagram

    /// Sets up one accepted connection; throwing refuses it (the channel is closed, as nginx closes a connection
    /// it has no slot for).
    func initialize(_ channel: any Channel, endpoint: ListenEndpoint, loop: LoopContext) throws {
        switch self {
        case .http:
            try HTTPListener.initialize(channel, endpoint: endpoint, loop: loop)
        case .stream:
            try StreamListener.initialize(channel, endpoint: endpoint, loop: loop)
        case .datagram:
            throw ChannelError.operationUnsupported  // datagram listeners accept no connections
        }
    }
}
