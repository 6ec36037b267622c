import MaitreBalancing
import MaitreConfig
import MaitreWire
import NIOCore

/// A client connection's two ends, as variables and log lines read them. Each text form is made on first use:
/// formatting addresses costs a few thousand instructions, and most requests read none of them.
final class ConnectionAddresses {
    private let remote: SocketAddress?
    private let local: SocketAddress?
    /// What a `listen … proxy_protocol` connection's header said (`$proxy_protocol_*`).
    let proxyProtocol: ProxyProtocolHeader.Addresses?

    init(remote: SocketAddress?, local: SocketAddress?, proxyProtocol: ProxyProtocolHeader.Addresses? = nil) {
        self.remote = remote
        self.local = local
        self.proxyProtocol = proxyProtocol
    }

    /// The same connection once its PROXY protocol header was read: with the realip module's trust
    /// (`set_real_ip_from` matching the peer) the header's client becomes `$remote_addr` and `$remote_port`.
    func readingProxyProtocol(_ header: ProxyProtocolHeader.Addresses?, trusted: [IPNetwork]) -> ConnectionAddresses {
        var client = remote
        if let header, trusted.contains(where: { $0.contains(remoteBytes) }),
            let address = try? SocketAddress(ipAddress: header.sourceAddress, port: header.sourcePort)
        {
            client = address
        }
        return ConnectionAddresses(remote: client, local: local, proxyProtocol: header)
    }

    /// `$proxy_protocol_*`: the header's value, nil without a header.
    func proxyProtocolValue(_ variable: Variable) -> String? {
        guard let proxyProtocol else { return nil }
        switch variable {
        case .proxyProtocolAddr: return proxyProtocol.sourceAddress
        case .proxyProtocolPort: return String(proxyProtocol.sourcePort)
        case .proxyProtocolServerAddr: return proxyProtocol.destinationAddress
        case .proxyProtocolServerPort: return String(proxyProtocol.destinationPort)
        default: return nil
        }
    }

    /// The connection's two ends as a PROXY protocol header writes them (nil for a non-IP socket).
    var proxyProtocolEndpoints: (source: ProxyProtocolWriter.Endpoint, destination: ProxyProtocolWriter.Endpoint)? {
        guard let remotePort = remote?.port, let localPort = local?.port else { return nil }
        let localBytes = Self.bytes(of: local)
        guard !remoteBytes.isEmpty, !localBytes.isEmpty else { return nil }
        return (ProxyProtocolWriter.Endpoint(address: remoteBytes, port: remotePort),
                ProxyProtocolWriter.Endpoint(address: localBytes, port: localPort))
    }

    /// `$remote_addr`
    private(set) lazy var remoteIP: String = remote?.ipAddress ?? ""
    /// `remoteIP` as bytes, for the access log (made once per connection).
    private(set) lazy var remoteIPBytes: [UInt8] = Array(remoteIP.utf8)
    /// `$remote_port`
    private(set) lazy var remotePort: String = remote?.port.map(String.init) ?? ""
    /// `$server_addr`
    private(set) lazy var localIP: String = local?.ipAddress ?? ""
    /// `$server_port`
    private(set) lazy var localPort: String = local?.port.map(String.init) ?? ""
    /// The client address as `ip_hash` keys it.
    private(set) lazy var clientKey = ClientAddressKey(numericAddress: remoteIP)
    /// The client address's 4 or 16 bytes, as `allow` and `deny` match them (empty when unknown).
    private(set) lazy var remoteBytes: [UInt8] = Self.bytes(of: remote)

    /// An IP socket address's 4 or 16 bytes (empty for any other kind).
    private static func bytes(of address: SocketAddress?) -> [UInt8] {
        switch address {
        case .v4(let address)?:
            var raw = address.address.sin_addr
            return withUnsafeBytes(of: &raw) { Array($0) }
        case .v6(let address)?:
            var raw = address.address.sin6_addr
            return withUnsafeBytes(of: &raw) { Array($0) }
        default:
            return []
        }
    }
}

@available(*, unavailable)
extension ConnectionAddresses: Sendable {}
