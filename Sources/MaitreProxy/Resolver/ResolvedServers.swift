import MaitreConfig

/// Which `resolve` server an answer belongs to: the upstream, the name as written and the service. A reload
/// that keeps the line keeps its answers (and so its peers) until the next lookup.
struct ResolutionKey: Hashable, Sendable {
    let upstream: String
    let server: String
    let service: String?

    init(upstream: String, server: UpstreamServer) {
        self.upstream = upstream
        self.server = server.name
        self.service = server.resolution?.service
    }
}

/// One address a run-time lookup gave a `resolve` server: it becomes one peer with the server's parameters.
/// For `service=` (SRV) the record's target names the peer, its port is the address's port, its weight is used
/// when the server line leaves `weight` at 1, and records of a priority other than the lowest are backups, as
/// nginx's zone module does.
struct ResolvedPeer: Sendable, Equatable {
    var address: ResolvedAddress
    var name: String?
    var weight: Int?
    var backup = false
}

/// The current answers of every `resolve` server.
typealias ResolvedServers = [ResolutionKey: [ResolvedPeer]]
