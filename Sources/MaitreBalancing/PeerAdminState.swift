/// Whether a peer is given new requests, as an operator decides it (the `down` parameter, or the registry at run time).
/// nginx Plus has the same three states; maitred has no sticky sessions, so `drain` differs from `down` only in
/// intent: both stop new selections at once, and requests already sent to the peer finish either way (nothing is
/// cut). A draining peer is one an operator wants to take out of service once its requests finish.
public enum PeerAdminState: String, Sendable, Equatable, CaseIterable {
    case up
    case down
    case drain
}
