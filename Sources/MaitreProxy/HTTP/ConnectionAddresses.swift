import MaitreBalancing
import NIOCore

/// A client connection's two ends, as variables and log lines read them. Each text form is made on first use:
/// formatting addresses costs a few thousand instructions, and most requests read none of them.
final class ConnectionAddresses {
    private let remote: SocketAddress?
    private let local: SocketAddress?

    init(remote: SocketAddress?, local: SocketAddress?) {
        self.remote = remote
        self.local = local
    }

    /// `$remote_addr`
    private(set) lazy var remoteIP: String = remote?.ipAddress ?? ""
    /// `$remote_port`
    private(set) lazy var remotePort: String = remote?.port.map(String.init) ?? ""
    /// `$server_addr`
    private(set) lazy var localIP: String = local?.ipAddress ?? ""
    /// `$server_port`
    private(set) lazy var localPort: String = local?.port.map(String.init) ?? ""
    /// The client address as `ip_hash` keys it.
    private(set) lazy var clientKey = ClientAddressKey(numericAddress: remoteIP)
    /// The client address's 4 or 16 bytes, as `allow` and `deny` match them (empty when unknown).
    private(set) lazy var remoteBytes: [UInt8] = {
        switch remote {
        case .v4(let address)?:
            var raw = address.address.sin_addr
            return withUnsafeBytes(of: &raw) { Array($0) }
        case .v6(let address)?:
            var raw = address.address.sin6_addr
            return withUnsafeBytes(of: &raw) { Array($0) }
        default:
            return []
        }
    }()
}

@available(*, unavailable)
extension ConnectionAddresses: Sendable {}
