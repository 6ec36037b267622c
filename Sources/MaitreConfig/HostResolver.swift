#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Resolves the host names written in `upstream` servers, `proxy_pass` and `listen`, once, at load time, as nginx does.
public protocol HostResolver: Sendable {
    /// Numeric addresses for a host (IPv4 and IPv6 literals returned as-is without lookup); throws or returns [] when not found.
    func resolve(host: String, port: Int) throws -> [ResolvedAddress]
}

/// getaddrinfo(3) with nginx's hints (any family, stream sockets, AI_ADDRCONFIG), duplicates removed, resolver order kept.
public struct SystemHostResolver: HostResolver {
    public init() {}

    public func resolve(host: String, port: Int) throws -> [ResolvedAddress] {
        if let literal = IPAddress.canonical(host) {
            return [ResolvedAddress(ip: literal, port: port)]
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }

        var addresses: [ResolvedAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            cursor = entry.pointee.ai_next
            guard let socketAddress = entry.pointee.ai_addr,
                let ip = IPAddress.numericHost(socketAddress, family: entry.pointee.ai_family)
            else { continue }
            let address = ResolvedAddress(ip: ip, port: port)
            if !addresses.contains(address) { addresses.append(address) }
        }
        return addresses
    }
}

/// Numeric address helpers on inet_pton/inet_ntop.
enum IPAddress {
    /// The canonical text of an IPv4 (dotted quad only, as ngx_inet_addr) or IPv6 literal; nil when `literal` is neither.
    static func canonical(_ literal: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 { return text(of: v4) }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, literal, &v6) == 1 { return text(of: v6) }
        return nil
    }

    static func isIPv6Literal(_ text: String) -> Bool {
        var v6 = in6_addr()
        return inet_pton(AF_INET6, text, &v6) == 1
    }

    private static func text(of address: in_addr) -> String? {
        var address = address
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return FileSystem.string(fromCString: buffer)
    }

    private static func text(of address: in6_addr) -> String? {
        var address = address
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return FileSystem.string(fromCString: buffer)
    }

    static func numericHost(_ socketAddress: UnsafeMutablePointer<sockaddr>, family: Int32) -> String? {
        switch family {
        case AF_INET:
            return socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                text(of: pointer.pointee.sin_addr)
            }
        case AF_INET6:
            return socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                text(of: pointer.pointee.sin6_addr)
            }
        default:
            return nil
        }
    }
}
