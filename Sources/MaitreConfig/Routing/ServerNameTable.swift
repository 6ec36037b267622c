/// Picks the virtual server for a request's Host on one listening address, as nginx does.
public struct ServerNameTable: Sendable {
    private let servers: [VirtualServer]
    private let defaultIndex: Int
    private let index: ServerNameIndex<Int>

    /// `servers`: every VirtualServer with a `listen` on `endpoint`, in config order. Default server: the one whose listen on this
    /// endpoint has `default_server`, else the first.
    public init(endpoint: ListenEndpoint, servers: [VirtualServer]) {
        precondition(!servers.isEmpty, "an endpoint is listened on by at least one server")
        self.servers = servers
        self.defaultIndex =
            servers.firstIndex { server in
                server.listens.contains { $0.endpoint == endpoint && $0.defaultServer }
            } ?? 0
        var index = ServerNameIndex<Int>()
        for (position, server) in servers.enumerated() {
            for name in server.serverNames { _ = index.insert(name, value: position) }
        }
        self.index = index
    }

    /// The server `default_server` (or the first) designates.
    public var defaultServer: VirtualServer { servers[defaultIndex] }

    /// nginx's server selection for a Host value (may include :port, any case, trailing dot; nil/empty = no Host):
    /// exact name, then longest leading wildcard, then longest trailing wildcard, else the default server.
    public func select(host: String?) -> VirtualServer {
        servers[selectIndex(host: host)]
    }

    /// As `select(host:)`, the server's position in the `servers` given at init.
    public func selectIndex(host: String?) -> Int {
        // One server on the address: nothing to choose (nginx skips its name hash the same way).
        if servers.count == 1 { return 0 }
        let name = Self.normalize(host ?? "")
        return index.lookup(name) ?? defaultIndex
    }

    /// Lowercase, port removed (`[v6]:port` understood), one trailing dot dropped, as ngx_http_validate_host.
    /// An absent Host looks up the empty name, which `server_name ""` (the default) holds.
    static func normalize(_ host: String) -> String {
        var name = Substring(host.lowercased())
        if name.hasPrefix("[") {
            if let close = name.firstIndex(of: "]") { name = name[...close] }
        } else if let colon = name.firstIndex(of: ":") {
            name = name[..<colon]
        }
        if name.hasSuffix(".") { name = name.dropLast() }
        return String(name)
    }
}
