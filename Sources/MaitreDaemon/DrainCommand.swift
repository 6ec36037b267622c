#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreConfig
import MaitreWire

/// `maitred -s drain UPSTREAM/SERVER [--wait TIME]` and `-s up UPSTREAM/SERVER`: the runtime API's PATCH from the
/// shell, for deploy scripts. It reads the configuration to find a location with `api write=on` (its server's
/// first `listen`, a wildcard address reached on loopback), finds the peers whose `server` string, address or id
/// is SERVER, and sets them draining (or up). With `--wait`, it then polls until none of them has an active
/// request, and fails when TIME passes first. Nothing new on the wire: the documented HTTP API (docs/api.md).
enum DrainCommand {
    struct Failure: Error {
        let message: String
    }

    /// Where the API answers.
    struct Endpoint: Equatable {
        var host: String
        var port: Int
        var hostHeader: String
        /// The location's prefix, without a trailing slash: requests go to `<prefix>/9/...`.
        var prefix: String
    }

    static func run(
        _ action: CommandLineOptions.Signal, target: String, wait: Int64?, configuration: Configuration
    ) -> Result<String, Failure> {
        let parts = target.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            return .failure(Failure(message: "invalid target \"\(target)\": expected UPSTREAM/SERVER"))
        }
        let (upstream, server) = (parts[0], parts[1])
        guard upstream.allSatisfy({ $0.isLetter || $0.isNumber || "_-.".contains($0) }) else {
            return .failure(Failure(message: "invalid upstream name \"\(upstream)\""))
        }
        guard let endpoint = apiEndpoint(in: configuration) else {
            return .failure(Failure(message: "no location with \"api write=on\" in \(configuration.mainFile)"))
        }
        let base = endpoint.prefix + "/9/http/upstreams/" + upstream
        let peers: [(id: Int, active: Int)]
        switch matchingPeers(endpoint, path: base, server: server) {
        case .success(let found): peers = found
        case .failure(let failure): return .failure(failure)
        }
        let body = action == .drain ? "{\"drain\":true}" : "{\"down\":false}"
        for peer in peers {
            switch request(endpoint, method: "PATCH", path: base + "/servers/\(peer.id)", body: body) {
            case .success(let (status, text)) where status == 200: _ = text
            case .success(let (status, text)):
                return .failure(Failure(message: "the API answered \(status): \(text)"))
            case .failure(let failure): return .failure(failure)
            }
        }
        let verb = action == .drain ? "draining" : "up"
        guard let wait, action == .drain else {
            return .success("\(upstream)/\(server): \(peers.count) peer\(peers.count == 1 ? "" : "s") \(verb)")
        }
        let deadline = monotonicMilliseconds() + wait
        while true {
            let active: Int
            switch matchingPeers(endpoint, path: base, server: server) {
            case .success(let found): active = found.reduce(0) { $0 + $1.active }
            case .failure(let failure): return .failure(failure)
            }
            if active == 0 { return .success("\(upstream)/\(server): draining, idle") }
            if monotonicMilliseconds() >= deadline {
                return .failure(Failure(message: "\(upstream)/\(server) still has \(active) active request"
                                        + (active == 1 ? "" : "s") + " after \(wait) ms"))
            }
            usleep(100_000)
        }
    }

    /// The first location with `api write=on`, in configuration order.
    static func apiEndpoint(in configuration: Configuration) -> Endpoint? {
        for server in configuration.http?.servers ?? [] {
            guard let listen = server.listens.first,
                let prefix = server.locations.lazy.compactMap(writablePrefix).first
            else { continue }
            var host = listen.host
            if host == "0.0.0.0" || host == "*" || host.isEmpty { host = "127.0.0.1" }
            if host == "::" { host = "::1" }
            var hostHeader = "localhost"
            for name in server.serverNames {
                if case .exact(let exact) = name, !exact.isEmpty {
                    hostHeader = exact
                    break
                }
            }
            return Endpoint(host: host, port: listen.port, hostHeader: hostHeader, prefix: prefix)
        }
        return nil
    }

    private static func writablePrefix(_ location: Location) -> String? {
        if case .api(let settings)? = location.handler, settings.write {
            switch location.match {
            case .prefix(let path, _), .exact(let path):
                return path.hasSuffix("/") ? String(path.dropLast()) : path
            case .regex: return nil
            }
        }
        return location.children.lazy.compactMap(writablePrefix).first
    }

    /// The upstream's peers whose server string, address or id is `server`, with their active requests.
    private static func matchingPeers(
        _ endpoint: Endpoint, path: String, server: String
    ) -> Result<[(id: Int, active: Int)], Failure> {
        let answer: (Int, String)
        switch request(endpoint, method: "GET", path: path, body: nil) {
        case .success(let read): answer = read
        case .failure(let failure): return .failure(failure)
        }
        guard answer.0 == 200 else { return .failure(Failure(message: "the API answered \(answer.0): \(answer.1)")) }
        guard let document = try? JSONValue.parse(Array(answer.1.utf8)),
            case .array(let peers)? = document.member("peers")
        else { return .failure(Failure(message: "the API's answer is not an upstream document")) }
        var found: [(id: Int, active: Int)] = []
        for peer in peers {
            guard case .number(let id)? = peer.member("id") else { continue }
            let names = [peer.member("server"), peer.member("name")].compactMap { value -> String? in
                if case .string(let text)? = value { return text }
                return nil
            }
            guard names.contains(server) || String(Int(id)) == server else { continue }
            var active = 0
            if case .number(let value)? = peer.member("active") { active = Int(value) }
            found.append((Int(id), active))
        }
        guard !found.isEmpty else {
            return .failure(Failure(message: "no server \"\(server)\" in the upstream"))
        }
        return .success(found)
    }

    /// One HTTP/1.1 exchange over a blocking socket (5 s timeouts): status and body.
    static func request(
        _ endpoint: Endpoint, method: String, path: String, body: String?
    ) -> Result<(Int, String), Failure> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list) == 0, let info = list else {
            return .failure(Failure(message: "cannot resolve \(endpoint.host)"))
        }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { return .failure(Failure(message: "socket() failed")) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let address = endpoint.host.contains(":") ? "[\(endpoint.host)]:\(endpoint.port)" : "\(endpoint.host):\(endpoint.port)"
        guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let code = errno
            return .failure(Failure(message: "connect() to \(address) failed (\(code): \(String(cString: strerror(code))))"))
        }
        var text = "\(method) \(path) HTTP/1.1\r\nHost: \(endpoint.hostHeader)\r\nConnection: close\r\n"
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return .failure(Failure(message: "send() to \(address) failed")) }
            sent += count
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while received.count < 8 << 20 {
            let count = recv(fd, &chunk, chunk.count, 0)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            received += chunk[..<count]
        }
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let headEnd = (0..<max(0, received.count - 3)).first(where: { received[$0..<$0 + 4].elementsEqual(separator) }),
            let statusText = String(decoding: received[..<headEnd], as: UTF8.self)
                .split(separator: " ", maxSplits: 2).dropFirst().first,
            let status = Int(statusText)
        else { return .failure(Failure(message: "no HTTP answer from \(address)")) }
        return .success((status, String(decoding: received[(headEnd + 4)...], as: UTF8.self)))
    }

    private static func monotonicMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec / 1_000_000)
    }
}
