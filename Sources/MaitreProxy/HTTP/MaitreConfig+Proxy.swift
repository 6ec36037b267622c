import MaitreConfig

extension VirtualServer {
    /// `$server_name`: the first name of the block (nginx's `server_name` primary), "" when none.
    var primaryName: String {
        guard let first = serverNames.first else { return "" }
        switch first {
        case .exact(let name): return name
        case .leadingWildcard(let suffix, let bare): return bare ? suffix : "*" + suffix
        case .trailingWildcard(let prefix): return prefix + "*"
        }
    }
}

extension NextUpstreamConditions {
    /// The condition a response status stands for, when `proxy_next_upstream` can name it.
    init?(status: Int) {
        switch status {
        case 500: self = .http500
        case 502: self = .http502
        case 503: self = .http503
        case 504: self = .http504
        case 403: self = .http403
        case 404: self = .http404
        case 429: self = .http429
        default: return nil
        }
    }
}
