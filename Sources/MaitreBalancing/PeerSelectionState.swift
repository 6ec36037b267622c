/// Per-request balancing state: nginx's `ngx_http_upstream_rr_peer_data_t` (which list, `tried`) plus `pc->tries`, plus the
/// fields ip_hash adds in `ngx_http_upstream_ip_hash_peer_data_t` (client key, saved hash, probe count).
public struct PeerSelectionState: Sendable {
    /// nginx `peer.tries`: attempts left, decremented by every `release`. As in ngx_http_upstream_next, the caller gives up
    /// (502/504) when it is 0 after a failed attempt; `select` itself does not look at it, like nginx's `get`.
    public var triesLeft: Int
    /// True once this request has switched to the backup list (nginx sets `rrp->peers = peers->next`); it stays there.
    public internal(set) var usingBackups = false

    var tried: TriedPeers
    let client: ClientAddressKey
    /// ip_hash `iphp->hash`: starts at 89 and is saved after each successful probe so that a retry continues the sequence.
    var ipHashValue = IPHash.initialHash
    /// ip_hash `iphp->tries`: failed probes over the whole request; past 20 the request uses round robin.
    var ipHashFailedProbes = 0
    /// `hash`: the key's bytes (empty: round robin), `hp->hash`, `hp->rehash` and `hp->tries`. For `consistent`
    /// and `maglev`, `hashValue` is the point (or slot) index and `hashRehash` 1 once it was found. The random
    /// methods count their draws (`rp->tries`) in `hashProbes`.
    public internal(set) var hashKey: [UInt8] = []
    var hashValue: UInt32 = 0
    var hashRehash = 0
    var hashProbes = 0
    /// The server ID the request names (`sticky`: its cookie or route), empty for none.
    public var stickyHint: [UInt8] = []
    /// `least_time … inflight`: the selected peer counts this request in flight until its header or its release.
    var leastTimeInflight = false

    init(triesLeft: Int, triedCapacity: Int, client: ClientAddressKey, hashKey: [UInt8] = []) {
        self.triesLeft = triesLeft
        self.tried = TriedPeers(capacity: triedCapacity)
        self.client = client
        self.hashKey = hashKey
    }
}
