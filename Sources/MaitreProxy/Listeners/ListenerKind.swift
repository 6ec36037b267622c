import MaitreConfig
import NIOCore

/// What a listening socket serves. Each kind builds the pipeline of the connections it accepts, on the loop that
/// accepted them; `ProxyServer` binds, keeps and closes listeners without knowing what they serve. http is the
/// only kind today; `stream` (TCP and UDP) and an admin listener come next. A reload keeps a listener whose
/// endpoint and kind both stay. (A kind change on one address binds the new socket before the old one closes,
/// which fails without `reuseport`: the stream kinds must close first there.)
enum ListenerKind: Hashable, Sendable {
    case http

    /// Sets up one accepted connection; throwing refuses it (the channel is closed, as nginx closes a connection
    /// it has no slot for).
    func initialize(_ channel: any Channel, endpoint: ListenEndpoint, loop: LoopContext) throws {
        switch self {
        case .http:
            try HTTPListener.initialize(channel, endpoint: endpoint, loop: loop)
        }
    }
}
